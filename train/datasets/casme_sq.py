"""CAS(ME)^2 part A (Qu et al., TAC 2018): long videos
``rawpic/s15/15_0101disgustingteeth/img001.jpg`` + ``CAS(ME)^2code_final.xlsx``
(docs/field.md 3.3).

The workbook has three sheets WITHOUT header rows:

- ``CASFEcode_final``: subject number, ``<video name>_<k>`` (``anger1_1``), onset, apex,
  offset, AUs, emotion, ``macro-expression`` / ``micro-expression``, self-report;
- ``naming rule1``: folder number (15), folder (``s15``), subject number (1);
- ``naming rule2``: video code (``0401``, text or number) and video name (``anger1``).

The video folder is ``<folder number>_<code><description>``. Sheet frame numbers are the
image numbers (``img001`` = 1). Quirks, handled as the MEGC2020 baseline does: offset 0
means "not coded" -> the apex is used; apex 0 -> the middle of onset..offset. Both are
written into :attr:`Sample.notes`.

Each annotated expression is one :class:`Sample` whose ``frames`` is the WHOLE video
(shared tuple); :func:`train.datasets.long_video.long_videos` groups them per video.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Literal

from train.datasets.errors import DatasetError
from train.datasets.frames import FrameFolder, read_frame_folder
from train.datasets.sample import Sample
from train.datasets.sheet import SheetRow, column_key, headerless_rows, load_sheet
from train.datasets.span import locate_span

logger = logging.getLogger(__name__)

DATASET = "casme_sq"
FPS = 30.0
RAWPIC_DIR = "rawpic"
CODE_SHEET, RULE1_SHEET, RULE2_SHEET = "CASFEcode_final", "naming rule1", "naming rule2"
TYPES = {"macro": "macro", "micro": "micro"}
# Columns of CASFEcode_final, named as the public loaders name them.
CODE_COLUMNS = ("subject", "video", "onset", "apex", "offset", "au", "emotion", "type",
                "selfReport")
# Stimulus category of the video name -> the paper-1 class word (angry / happy / disgust).
STIMULUS_EMOTIONS = {"anger": "angry", "happy": "happy", "disgust": "disgust"}


def find_casme_sq(root: Path) -> tuple[Path, Path]:
    """``(rawpic folder, code workbook)`` for ``root`` = the ``CASME_sq`` folder or its
    parent. The workbook is any ``*code_final*.xlsx`` (there is an "(Updated)" copy)."""
    root = Path(root)
    for base in (root, root / "CASME_sq"):
        if (base / RAWPIC_DIR).is_dir():
            books = sorted(p for p in base.iterdir()
                           if "code_final" in p.name.lower() and p.suffix.lower() == ".xlsx")
            if not books:
                raise DatasetError(f"{base}: no CAS(ME)^2code_final.xlsx")
            return base / RAWPIC_DIR, books[0]
    raise DatasetError(f"{root}: no {RAWPIC_DIR} folder (CAS(ME)^2 part A)")


def _digits(row: SheetRow, column: str | int, what: str) -> str:
    """A cell holding a number possibly written as text or with a prefix (``s15``)."""
    text = row.text(column)
    m = re.fullmatch(r"[a-zA-Z]*(\d+)", text)
    if m is None:
        raise row.error(f"{what} {text!r} is not a number")
    return m.group(1)


def _naming_rules(path: Path) -> tuple[dict[int, int], dict[str, str]]:
    """``subject number -> folder number`` and ``video name -> 4-digit code``."""
    title, rows = load_sheet(path, RULE1_SHEET)
    folders: dict[int, int] = {}
    for row in headerless_rows(rows, f"{path.name} [{title}]"):
        if not row.text(0)[-1:].isdigit():
            continue            # a header row, if a copy has one
        folders[int(_digits(row, 2, "subject number"))] = int(_digits(row, 0, "folder"))
    title, rows = load_sheet(path, RULE2_SHEET)
    codes: dict[str, str] = {}
    for row in headerless_rows(rows, f"{path.name} [{title}]"):
        if not row.text(0).isdigit():
            continue
        # "0401" is often stored as the number 401.
        codes[row.text(1).lower()] = f"{int(row.text(0)):04d}"
    return folders, codes


def _video_folder(rawpic: Path, number: int, code: str) -> Path | None:
    subject_dir = rawpic / f"s{number}"
    if not subject_dir.is_dir():
        return None
    found = [p for p in subject_dir.iterdir() if p.is_dir() and p.name.startswith(f"{number}_"
                                                                                 f"{code}")]
    if len(found) > 1:
        raise DatasetError(f"{subject_dir}: several folders for video code {code}: "
                           f"{', '.join(sorted(p.name for p in found))}")
    return found[0] if found else None


def read_casme_sq(root: Path, *, fps: float | None = None,
                  missing: Literal["raise", "skip"] = "raise") -> list[Sample]:
    """Every annotated expression of CAS(ME)^2 part A, in sheet order.

    Args:
        root: the ``CASME_sq`` folder (holding ``rawpic`` and the workbook) or its parent.
        fps: frame rate; CAS(ME)^2 is 30 fps.
        missing: a row whose video folder does not exist raises or is skipped (logged).

    Returns:
        One :class:`Sample` per expression, ``frames`` = its whole long video, ``clip`` =
        the sheet's name (``anger1_1``), ``video`` = the folder, ``subject`` = ``s15``,
        ``kind`` from the type column, ``label`` = the emotion column.
    """
    rawpic, path = find_casme_sq(root)
    folders, codes = _naming_rules(path)
    title, rows = load_sheet(path, CODE_SHEET)
    file = f"{path.name} [{title}]"
    videos: dict[Path, FrameFolder] = {}
    samples: list[Sample] = []
    skipped: list[str] = []
    for row in headerless_rows(rows, file, CODE_COLUMNS):
        if not samples and not skipped and column_key(row.text("onset")).startswith("onset"):
            continue            # a header row, in copies that added one
        subject_no = int(_digits(row, "subject", "subject"))
        clip = row.text("video")
        video_name = clip.split("_")[0].lower()
        if subject_no not in folders:
            raise row.error(f"subject {subject_no} is not in sheet {RULE1_SHEET!r}")
        if video_name not in codes:
            raise row.error(f"video {video_name!r} (of {clip!r}) is not in sheet "
                            f"{RULE2_SHEET!r}")
        number = folders[subject_no]
        folder = _video_folder(rawpic, number, codes[video_name])
        if folder is None:
            if missing == "skip":
                skipped.append(f"{row.where} ({clip})")
                continue
            raise row.error(f"no video folder {rawpic}/s{number}/{number}_"
                            f"{codes[video_name]}* for {clip!r}")
        if folder not in videos:
            videos[folder] = read_frame_folder(folder)
        frames = videos[folder]
        kind = TYPES.get(row.text("type").lower().split("-")[0].strip())
        if kind is None:
            raise row.error(f"type {row.text('type')!r} is neither macro- nor "
                            "micro-expression")
        onset, apex, offset = (row.integer(c) for c in ("onset", "apex", "offset"))
        notes = []
        if offset == 0:
            if apex == 0:
                raise row.error("neither apex nor offset is coded (both 0)")
            offset = apex
            notes.append("offset not coded (0); apex used as offset")
        no_apex = apex == 0
        span = locate_span(frames, onset, None if no_apex else apex, offset, row)
        notes += span.notes
        ap = span.apex
        if no_apex:
            ap = (span.onset + span.offset) // 2
            notes.append("apex not coded (0); midpoint used")
        samples.append(Sample.located(
            DATASET, f"s{number}", clip, folder.name, frames, span, apex=ap,
            label=row.text("emotion"), aus=row.text("au"), kind=kind,
            fps=FPS if fps is None else fps, notes=notes))
    if skipped:
        logger.warning("CAS(ME)^2: %d rows of %s have no video folder and were skipped: %s",
                       len(skipped), path.name, ", ".join(skipped))
    if not samples:
        raise DatasetError(f"{file}: no expressions")
    return samples


def stimulus_emotion(sample: Sample) -> str | None:
    """The elicitation category of the sample's video, as paper 1 (MicroExpSTCNN) labels
    CAS(ME)^2: ``anger1_1`` -> ``"angry"``, ``happy3_2`` -> ``"happy"``; None otherwise.

    Example:
        >>> from types import SimpleNamespace
        >>> stimulus_emotion(SimpleNamespace(clip="anger1_1"))
        'angry'
    """
    category = re.sub(r"\d.*$", "", sample.clip.split("_")[0].lower())
    return STIMULUS_EMOTIONS.get(category)
