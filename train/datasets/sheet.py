"""Annotation spreadsheets (.xlsx) read row by row, every value checked where it is read.

The datasets ship hand-edited Excel files: header rows sit under text preambles, headers
differ in spacing (``OnsetFrame`` / ``Onset Frame``), numbers are sometimes text or
floats, and missing values are written ``/`` or ``-1``. Readers get plain rows and ask
for typed values; any value that makes no sense raises :class:`DatasetError` naming the
file and the Excel row number (1-based, as Excel shows it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from train.datasets.errors import DatasetError

Cell = object
# What the sheets write for "not coded".
_MISSING_TEXT = frozenset({"", "/", "-", "--", "n/a", "na", "none", "nan"})
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d*)?")


def column_key(name: object) -> str:
    """Header text compared without case, spaces or punctuation:
    ``"Onset Frame"``, ``"OnsetFrame"`` and ``"onset_frame"`` are the same column.

    Example:
        >>> column_key("Onset Frame"), column_key(" OnsetFrame "), column_key(None)
        ('onsetframe', 'onsetframe', '')
    """
    return re.sub(r"[^0-9a-z]", "", str(name).lower()) if name is not None else ""


def load_sheet(path: Path, sheet: str | None = None) -> tuple[str, list[tuple[Cell, ...]]]:
    """Rows of one worksheet of ``path`` (its title and the rows, top to bottom).

    ``sheet`` is matched without case; ``None`` takes the first worksheet.
    """
    if path.suffix.lower() == ".xls":
        # Reading legacy .xls needs xlrd, which the project does not depend on.
        raise DatasetError(f"{path.name}: legacy .xls is not supported; open it in Excel or "
                           "LibreOffice and save it as .xlsx next to it")
    if not path.is_file():
        raise DatasetError(f"{path}: annotation sheet is missing")
    # Imported here so importing the readers costs nothing where no sheet is read.
    from openpyxl import load_workbook

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken file
        raise DatasetError(f"{path.name}: not a readable .xlsx file ({exc})") from exc
    try:
        if sheet is None:
            ws = wb.worksheets[0]
        else:
            by_key = {column_key(name): name for name in wb.sheetnames}
            if column_key(sheet) not in by_key:
                raise DatasetError(f"{path.name}: no sheet {sheet!r} (sheets: "
                                   f"{', '.join(wb.sheetnames)})")
            ws = wb[by_key[column_key(sheet)]]
        # Read-only mode trusts the file's recorded used range, which some tools write
        # wrong (rows would silently go missing); forget it and read every row.
        ws.reset_dimensions()
        return ws.title, [tuple(row) for row in ws.iter_rows(values_only=True)]
    finally:
        wb.close()


@dataclass(frozen=True)
class SheetRow:
    """One data row of a sheet, with typed accessors that name the file and row on error."""

    file: str                     # file name used in messages
    number: int                   # Excel row number (1-based)
    cells: tuple[Cell, ...]
    columns: Mapping[str, int]    # column_key(header) -> column index

    @property
    def where(self) -> str:
        return f"{self.file} row {self.number}"

    def error(self, message: str) -> DatasetError:
        return DatasetError(f"{self.where}: {message}")

    def raw(self, column: str | int) -> Cell:
        """The cell under header ``column`` (any spelling) or at index ``column``."""
        if isinstance(column, int):
            i = column
        else:
            key = column_key(column)
            if key not in self.columns:
                raise self.error(f"no column {column!r}")
            i = self.columns[key]
        return self.cells[i] if i < len(self.cells) else None

    def has(self, column: str) -> bool:
        return column_key(column) in self.columns

    def text(self, column: str | int) -> str:
        """The cell as stripped text; numbers without their ``.0``; empty cell -> ``""``."""
        value = self.raw(column)
        if value is None:
            return ""
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value).strip()

    def integer(self, column: str | int) -> int:
        """The cell as a whole frame number (see :meth:`optional_integer`); an empty cell
        is an error."""
        value = self.optional_integer(column)
        if value is None:
            raise self.error(f"{self._name(column)} is empty")
        return value

    def optional_integer(self, column: str | int) -> int | None:
        """The cell as a whole frame number, or None where it is not coded (empty, ``/``,
        ``-``). Floats are rounded: values typed in Excel can come back as 46.0."""
        value = self.raw(column)
        if isinstance(value, bool):
            raise self.error(f"{self._name(column)} {value!r} is not a number")
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            return None if value != value else round(value)     # NaN: not coded
        if value is None or (isinstance(value, str) and value.strip().lower() in _MISSING_TEXT):
            return None
        text = str(value).strip()
        if not _NUMBER.fullmatch(text):
            raise self.error(f"{self._name(column)} {value!r} is not a number")
        return round(float(text))

    @staticmethod
    def _name(column: str | int) -> str:
        return column if isinstance(column, str) else f"column {column + 1}"

    def is_blank(self) -> bool:
        return all(c is None or (isinstance(c, str) and not c.strip()) for c in self.cells)


def find_header(rows: Sequence[Sequence[Cell]], required: Sequence[str], file: str) -> int:
    """Index of the first row holding every column of ``required`` (any spelling).

    Preambles differ between releases (SAMM: 13 text rows in one, none in another), so
    the header is found by its content, never by position.
    """
    want = {column_key(r) for r in required}
    for i, row in enumerate(rows):
        if want <= {column_key(c) for c in row}:
            return i
    raise DatasetError(f"{file}: no header row with the columns {', '.join(required)}")


def data_rows(rows: Sequence[Sequence[Cell]], header_at: int, file: str) -> Iterator[SheetRow]:
    """The non-blank rows under ``rows[header_at]``, keyed by that header."""
    columns: dict[str, int] = {}
    for i, name in enumerate(rows[header_at]):
        key = column_key(name)
        if key and key not in columns:      # first of two same-named columns wins
            columns[key] = i
    for i in range(header_at + 1, len(rows)):
        row = SheetRow(file, i + 1, tuple(rows[i]), columns)
        if not row.is_blank():
            yield row


def headerless_rows(rows: Sequence[Sequence[Cell]], file: str,
                    names: Sequence[str] = ()) -> Iterator[SheetRow]:
    """The non-blank rows of a sheet without header; ``names`` names its columns in order
    (the names loaders use), so that rows can be read and errors worded by name."""
    columns = {column_key(name): i for i, name in enumerate(names)}
    for i, cells in enumerate(rows):
        row = SheetRow(file, i + 1, tuple(cells), columns)
        if not row.is_blank():
            yield row
