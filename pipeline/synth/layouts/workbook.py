"""Byte-reproducible .xlsx files (the datasets ship their annotations as Excel sheets)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from pathlib import Path
from zipfile import ZIP_DEFLATED, ZipFile, ZipInfo

Cell = str | int | float | None

# openpyxl stamps "now" into docProps/core.xml and zipfile stamps "now" into every member;
# both are pinned so the same dataset gives the same bytes.
FIXED_TIME = datetime(2020, 1, 1, 0, 0, 0)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Sheet:
    """One worksheet: its tab name and its rows, top to bottom (``None`` = empty cell)."""

    title: str
    rows: list[list[Cell]]


def save_workbook(path: Path, sheets: Sequence[Sheet]) -> Path:
    """Write ``sheets`` (in order) to ``path`` as .xlsx, identical bytes for identical rows."""
    # Imported here: only the dataset writers need openpyxl, not the real-time runtime.
    from openpyxl import Workbook
    from openpyxl.writer.excel import ExcelWriter

    wb = Workbook()
    wb.remove(wb.active)
    for sheet in sheets:
        ws = wb.create_sheet(sheet.title)
        for row in sheet.rows:
            ws.append(row)
    wb.properties.creator = "mestream (synthetic data)"
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    # ExcelWriter rather than wb.save(): save() overwrites ``modified`` with the clock.
    raw = BytesIO()
    with ZipFile(raw, "w", ZIP_DEFLATED, allowZip64=True) as archive:
        ExcelWriter(wb, archive).save()
    out = BytesIO()
    with ZipFile(raw) as src, ZipFile(out, "w", ZIP_DEFLATED) as dst:
        for info in src.infolist():
            member = ZipInfo(info.filename, date_time=ZIP_TIME)
            member.compress_type = ZIP_DEFLATED
            dst.writestr(member, src.read(info.filename))
    path.write_bytes(out.getvalue())
    return path
