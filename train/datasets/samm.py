"""SAMM (Davison et al., TAC 2018): ``SAMM/006/006_1_2/006_05562.jpg`` +
``SAMM_Micro_FACS_Codes*.xlsx`` (docs/field.md 3.4).

- 200 fps, grayscale; image names are the subject + the ABSOLUTE frame number, and the
  sheet's Onset/Apex/Offset Frame are those numbers;
- the sheet has text rows above its header (13 in one release); the header row is the
  one holding ``Filename`` (and the other needed columns), wherever it is;
- Subject may be the text ``006`` or the number 6: both mean folder ``006``;
- a few apex values are missing: apex None with a note.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from train.datasets.errors import DatasetError
from train.datasets.frames import read_frame_folder
from train.datasets.sample import Sample
from train.datasets.sheet import SheetRow, data_rows, find_header, load_sheet
from train.datasets.span import locate_span

logger = logging.getLogger(__name__)

DATASET = "samm"
FPS = 200.0
DATASET_DIR = "SAMM"
SHEET_GLOBS = ("SAMM_Micro_FACS_Codes*.xlsx", "SAMM_*.xlsx")
COLUMNS = ("Subject", "Filename", "Onset Frame", "Apex Frame", "Offset Frame",
           "Action Units", "Estimated Emotion")


def samm_subject(row: SheetRow) -> str:
    """Sheet ``Subject`` (``"006"``, ``6`` or ``6.0``) -> the 3-digit folder name."""
    text = row.text("Subject")
    if not text.isdigit():
        raise row.error(f"Subject {text!r} is not a SAMM subject number")
    return f"{int(text):03d}"


def samm_kind(row: SheetRow, default: str | None) -> str:
    """``Micro - 1/2`` -> micro, ``Macro`` -> macro (the MEGC2020 baseline looks at the
    second letter; the whole word is checked here); an empty Type -> ``default``, or an
    error where there is none."""
    text = row.text("Type").lower() if row.has("Type") else ""
    if not text:
        if default is None:
            raise row.error("Type is empty")
        return default
    for kind in ("micro", "macro"):
        if text.startswith(kind):
            return kind
    raise row.error(f"Type {row.text('Type')!r} is neither Micro nor Macro")


def find_samm(root: Path) -> tuple[Path, Path]:
    """``(dataset folder, FACS code sheet)`` for ``root`` = the ``SAMM`` folder or its
    parent."""
    root = Path(root)
    for base in (root, root / DATASET_DIR):
        for pattern in SHEET_GLOBS:
            sheets = sorted(base.glob(pattern))
            if sheets:
                return base, sheets[-1]
    raise DatasetError(f"{root}: no SAMM sheet ({' or '.join(SHEET_GLOBS)})")


def read_samm(root: Path, *, fps: float | None = None, sheet: Path | None = None,
              missing: Literal["raise", "skip"] = "raise") -> list[Sample]:
    """Every coded micro-movement of SAMM, in sheet order.

    Args:
        root: the ``SAMM`` folder (subject folders + the sheet) or its parent.
        fps: frame rate; SAMM is 200 fps.
        sheet: a sheet to use instead of the one found (``SAMM_Micro_FACS_Codes*.xlsx``).
        missing: a row whose sample folder does not exist raises or is skipped (logged).

    Returns:
        One :class:`Sample` per row; label = Estimated Emotion (``Anger``, ``Other``...),
        notes include the sheet's Notes cell.
    """
    base, found = find_samm(root)
    path = Path(sheet) if sheet is not None else found
    _, rows = load_sheet(path)
    header = find_header(rows, COLUMNS, path.name)
    samples: list[Sample] = []
    skipped: list[str] = []
    for row in data_rows(rows, header, path.name):
        name = row.text("Filename")
        if not name:
            continue            # remark rows below the table
        subject = samm_subject(row)
        folder = base / subject / name
        if not folder.is_dir():
            if missing == "skip":
                skipped.append(f"{row.where} ({name})")
                continue
            raise row.error(f"sample folder {folder} is missing")
        frames = read_frame_folder(folder)
        apex = row.optional_integer("Apex Frame")
        if apex is not None and apex < 0:
            apex = None
        span = locate_span(frames, row.integer("Onset Frame"), apex,
                           row.integer("Offset Frame"), row)
        notes = list(span.notes)
        if apex is None:
            notes.append("apex not coded in the sheet")
        if row.has("Notes") and row.text("Notes"):
            notes.append(f"sheet note: {row.text('Notes')}")
        samples.append(Sample.located(
            DATASET, subject, name, name, frames, span,
            label=row.text("Estimated Emotion"), aus=row.text("Action Units"),
            kind=samm_kind(row, "micro"), fps=FPS if fps is None else fps, notes=notes))
    if skipped:
        logger.warning("SAMM: %d rows of %s have no sample folder and were skipped: %s",
                       len(skipped), path.name, ", ".join(skipped))
    if not samples:
        raise DatasetError(f"{path.name}: no samples under {base}")
    return samples
