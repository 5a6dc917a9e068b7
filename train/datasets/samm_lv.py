"""SAMM Long Videos: ``SAMM_longvideos/006_1/006_1_0001.jpg`` + sheet
``FACS_Movement_Only`` of ``SAMM_LongVideos_V*_Release.xlsx`` (docs/field.md 3.4).

- 200 fps, grayscale; video folder ``<subject>_<n>``, images numbered with 4+ digits;
- 10 preamble rows above the header (found by content); columns ``Subject, Filename
  (006_1_1 = video 006_1, movement 1), Inducement Code, Onset, Apex, Offset, Duration,
  Type, Action Units, Notes``; no emotion (movements are FACS coded only): label None;
- Type ``Micro - 1/2`` -> micro, ``Macro`` -> macro;
- quirks: apex -1 or outside onset..offset -> None with a note; rows with onset 0 are
  dropped, as SOFTNet does (343 -> 333 macro in V1), and counted in a log line; values
  stored as floats are rounded.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from train.datasets.errors import DatasetError
from train.datasets.frames import FrameFolder, read_frame_folder
from train.datasets.samm import samm_kind, samm_subject
from train.datasets.sample import Sample
from train.datasets.sheet import data_rows, find_header, load_sheet
from train.datasets.span import locate_span

logger = logging.getLogger(__name__)

DATASET = "samm_lv"
FPS = 200.0
DATASET_DIR = "SAMM_longvideos"
SHEET_GLOB = "SAMM_LongVideos*.xlsx"
SHEET_NAME = "FACS_Movement_Only"
COLUMNS = ("Subject", "Filename", "Onset", "Apex", "Offset", "Type", "Action Units")


def find_samm_lv(root: Path) -> tuple[Path, Path]:
    """``(video folders' parent, release workbook)`` for ``root`` = ``SAMM_longvideos``
    or its parent; the workbook may sit in either (the newest V* wins)."""
    root = Path(root)
    base = root / DATASET_DIR if (root / DATASET_DIR).is_dir() else root
    for folder in (base, base.parent, root):
        books = sorted(folder.glob(SHEET_GLOB))
        if books:
            return base, books[-1]
    raise DatasetError(f"{root}: no SAMM-LV workbook {SHEET_GLOB}")


def read_samm_lv(root: Path, *, fps: float | None = None, sheet: Path | None = None,
                 missing: Literal["raise", "skip"] = "raise") -> list[Sample]:
    """Every coded movement of SAMM Long Videos with a usable onset, in sheet order.

    Args:
        root: the ``SAMM_longvideos`` folder or its parent.
        fps: frame rate; SAMM-LV is 200 fps.
        sheet: a workbook to use instead of the newest ``SAMM_LongVideos*.xlsx``.
        missing: a row whose video folder does not exist raises or is skipped (logged).

    Returns:
        One :class:`Sample` per movement, ``frames`` = its whole long video (shared),
        ``clip`` = Filename (``006_1_1``), ``video`` = ``006_1``, label None.
    """
    base, found = find_samm_lv(root)
    path = Path(sheet) if sheet is not None else found
    title, rows = load_sheet(path, SHEET_NAME)
    header = find_header(rows, COLUMNS, f"{path.name} [{title}]")
    videos: dict[str, FrameFolder] = {}
    samples: list[Sample] = []
    skipped: list[str] = []
    onset_zero: list[str] = []
    for row in data_rows(rows, header, f"{path.name} [{title}]"):
        name = row.text("Filename")
        if not name:
            continue
        subject = samm_subject(row)
        video = name.rsplit("_", 1)[0]
        if not video.startswith(subject):
            raise row.error(f"Filename {name!r} does not belong to subject {subject}")
        onset = row.integer("Onset")
        if onset == 0:
            onset_zero.append(name)
            continue
        folder = base / video
        if not folder.is_dir():
            if missing == "skip":
                skipped.append(f"{row.where} ({name})")
                continue
            raise row.error(f"video folder {folder} is missing")
        if video not in videos:
            videos[video] = read_frame_folder(folder)
        frames = videos[video]
        apex = row.optional_integer("Apex")
        notes = []
        if apex is not None and apex < 0:
            apex = None
            notes.append("apex not coded (-1)")
        elif apex is None:
            notes.append("apex not coded in the sheet")
        span = locate_span(frames, onset, apex, row.integer("Offset"), row)
        notes += span.notes
        if row.has("Notes") and row.text("Notes"):
            notes.append(f"sheet note: {row.text('Notes')}")
        samples.append(Sample.located(
            DATASET, subject, name, video, frames, span, label=None,
            aus=row.text("Action Units"), kind=samm_kind(row, None),
            fps=FPS if fps is None else fps, notes=notes))
    if onset_zero:
        logger.warning("SAMM-LV: %d rows of %s have onset 0 and were dropped (as SOFTNet): %s",
                       len(onset_zero), path.name, ", ".join(onset_zero))
    if skipped:
        logger.warning("SAMM-LV: %d rows of %s have no video folder and were skipped: %s",
                       len(skipped), path.name, ", ".join(skipped))
    if not samples:
        raise DatasetError(f"{path.name}: no movements under {base}")
    return samples
