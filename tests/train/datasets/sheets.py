"""Hand edits of written annotation sheets, to make the malformed inputs the tests need."""

from __future__ import annotations

from pathlib import Path

Cell = str | int | float | None


def excel_row(path: Path, column: str | int, value: Cell, sheet: str | None = None) -> int:
    """Excel row number (1-based) of the first row whose cell ``column`` (a header text, or
    a 0-based index for header-less sheets) holds ``value``."""
    from openpyxl import load_workbook

    wb = load_workbook(path)
    ws = wb[sheet] if sheet else wb.worksheets[0]
    col = column
    for row in ws.iter_rows():
        values = [c.value for c in row]
        if isinstance(column, str) and column in values:
            col = values.index(column)
            continue
        if isinstance(col, int) and col < len(values) and values[col] == value:
            return row[0].row
    raise LookupError(f"{path.name}: no row with {column} = {value!r}")


def set_cell(path: Path, row: int, column: str | int, value: Cell,
             sheet: str | None = None) -> None:
    """Overwrite one cell of ``path``: ``column`` is a header text (looked up above ``row``)
    or a 0-based index."""
    from openpyxl import load_workbook

    wb = load_workbook(path)
    ws = wb[sheet] if sheet else wb.worksheets[0]
    col = column
    if isinstance(column, str):
        for r in ws.iter_rows(max_row=row - 1):
            values = [c.value for c in r]
            if column in values:
                col = values.index(column)
    if not isinstance(col, int):
        raise LookupError(f"{path.name}: no column {column!r} above row {row}")
    # Not ws.cell(..., value=None): that leaves the old value in place.
    ws.cell(row=row, column=col + 1).value = value
    wb.save(path)
