"""CASME II (Yan et al., PLoS ONE 2014): ``CASME2-RAW/subXX/<Filename>/imgN.jpg`` + the
coding sheet ``CASME2-coding-*.xlsx`` (docs/field.md 3.1).

- one micro-expression per sample folder, 200 fps; ``N`` is the ABSOLUTE frame number
  (clips start at e.g. ``img46.jpg``) and the sheet's OnsetFrame/ApexFrame/OffsetFrame
  are those numbers;
- the header row (``Subject, Filename, OnsetFrame, ApexFrame, OffsetFrame, Action Units,
  Estimated Emotion`` plus two unnamed columns) is found by content;
- about 21 rows have no apex (``/``): apex None with a note (loaders take the middle);
- sample folder names are irregular (``EP02_01f``, ``EP09f``, ``EP06_02_01``, ``EP01_2``)
  and taken verbatim from the sheet (case-insensitive fallback).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from train.datasets.errors import DatasetError
from train.datasets.frames import read_frame_folder
from train.datasets.sample import Sample
from train.datasets.sheet import data_rows, find_header, load_sheet
from train.datasets.span import locate_span

logger = logging.getLogger(__name__)

DATASET = "casme2"
FPS = 200.0
RAW_DIR = "CASME2-RAW"
SHEET_GLOB = "CASME2-coding-*.xlsx"
LEGACY_SHEET = "CASME2_label_Ver_2.xls"
COLUMNS = ("Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units",
           "Estimated Emotion")


def find_casme2(root: Path, frames_dir: str = RAW_DIR) -> tuple[Path, Path]:
    """``(frames folder, coding sheet)`` for ``root`` = the dataset folder holding
    ``CASME2-RAW``, its parent, or ``CASME2-RAW`` itself."""
    root = Path(root)
    candidates = [root / frames_dir, root / "CASME2" / frames_dir]
    if root.name == frames_dir:
        candidates.insert(0, root)
    raw = next((c for c in candidates if c.is_dir()), None)
    if raw is None:
        raise DatasetError(f"{root}: no {frames_dir} folder (looked in "
                           f"{', '.join(str(c) for c in candidates)})")
    # The newest release sorts last (20190701 after 20140508).
    for folder in (raw.parent, root):
        sheets = sorted(folder.glob(SHEET_GLOB))
        if sheets:
            return raw, sheets[-1]
    for folder in (raw.parent, root):
        if (folder / LEGACY_SHEET).exists():
            return raw, folder / LEGACY_SHEET     # load_sheet explains how to convert it
    raise DatasetError(f"{raw.parent}: no coding sheet {SHEET_GLOB}")


def _subject_folder(value: str) -> str:
    """Sheet ``Subject`` (1, "1", "01" or "sub01") -> the folder name ``sub01``."""
    digits = value.lower().removeprefix("sub")
    return f"sub{int(digits):02d}" if digits.isdigit() else value


def read_casme2(root: Path, *, fps: float | None = None, sheet: Path | None = None,
                frames_dir: str = RAW_DIR,
                missing: Literal["raise", "skip"] = "raise") -> list[Sample]:
    """Every coded sample of CASME II, in sheet order.

    Args:
        root: the folder holding ``CASME2-RAW`` and the coding sheet (or its parent, or
            ``CASME2-RAW`` itself).
        fps: frame rate; CASME II is recorded at 200 fps.
        sheet: a coding sheet to use instead of the newest ``CASME2-coding-*.xlsx``.
        frames_dir: ``"CASME2-RAW"``, or ``"Cropped"`` for the authors' cropped frames
            (``reg_imgN.jpg``, same numbers).
        missing: a row whose sample folder does not exist raises (``"raise"``) or is
            logged and left out (``"skip"``).

    Returns:
        One :class:`Sample` per sheet row, kind ``"micro"``, label = Estimated Emotion.
    """
    raw, found_sheet = find_casme2(root, frames_dir)
    path = Path(sheet) if sheet is not None else found_sheet
    _, rows = load_sheet(path)
    header = find_header(rows, COLUMNS, path.name)
    samples: list[Sample] = []
    skipped: list[str] = []
    for row in data_rows(rows, header, path.name):
        subject_cell, name = row.text("Subject"), row.text("Filename")
        if not subject_cell and not name:
            continue        # a row holding only a remark
        if not subject_cell or not name:
            raise row.error("Subject and Filename must both be filled")
        subject = _subject_folder(subject_cell)
        folder = raw / subject / name
        if not folder.is_dir() and (raw / subject).is_dir():
            # Sheet and folders disagree on case in some copies (EP02_01F vs EP02_01f).
            folder = next((f for f in (raw / subject).iterdir()
                           if f.is_dir() and f.name.lower() == name.lower()), folder)
        if not folder.is_dir():
            if missing == "skip":
                skipped.append(f"{row.where} ({subject}/{name})")
                continue
            raise row.error(f"sample folder {folder} is missing")
        frames = read_frame_folder(folder)
        apex = row.optional_integer("ApexFrame")
        span = locate_span(frames, row.integer("OnsetFrame"), apex,
                           row.integer("OffsetFrame"), row)
        notes = list(span.notes)
        if apex is None:
            notes.append("apex not coded in the sheet")
        samples.append(Sample.located(
            DATASET, subject, folder.name, folder.name, frames, span,
            label=row.text("Estimated Emotion"), aus=row.text("Action Units"), kind="micro",
            fps=FPS if fps is None else fps, notes=notes))
    if skipped:
        logger.warning("CASME II: %d rows of %s have no sample folder and were skipped: %s",
                       len(skipped), path.name, ", ".join(skipped))
    if not samples:
        raise DatasetError(f"{path.name}: no samples under {raw}")
    return samples
