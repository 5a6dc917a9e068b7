"""SAMM and SAMM Long Videos (Davison et al. 2018) layouts; both grayscale.

SAMM (docs/field.md 3.4), reproduced here:

- ``SAMM/006/006_1_2/006_05562.jpg``: 3-digit subject id (dataset subjects 1..32 become
  006..037), sample folder ``<subject>_<inducement code>_<n>``, image name subject + 5-digit
  ABSOLUTE frame number (clips start at an arbitrary number); one ME per sample;
- single-channel (grayscale) JPEGs: the camera was monochrome;
- ``SAMM_Micro_FACS_Codes_v2.xlsx``: 13 rows of preamble text above the header row
  ``Subject, Filename, Inducement Code, Onset Frame, Apex Frame, Offset Frame, Duration,
  Type, Action Units, Estimated Emotion, Objective Classes, Notes`` (readers find the row
  holding ``Filename``); Duration = offset - onset + 1 frames; Type ``Micro - 1/2``.

SAMM-LV, reproduced here:

- ``SAMM_longvideos/006_1/006_1_0001.jpg``: video ``<subject>_<n>``, images numbered from
  1 with 4 digits; grayscale;
- ``SAMM_LongVideos_V1_Release.xlsx``, sheet ``FACS_Movement_Only``: 10 preamble rows, then
  the header ``Subject, Filename, Inducement Code, Onset, Apex, Offset, Duration, Type,
  Action Units, Notes``; Filename ``<video>_<n>`` (``006_1_1``), Type ``Micro - 1/2`` or
  ``Macro``; no emotion column (the long-video release codes movements only, so labels
  are not written);
- quirk (``quirks=True``): every 5th macro row (3rd, 8th, ...) has apex -1 (readers must
  estimate the apex, e.g. the midpoint); the true apex stays in the generator's ground
  truth. Not reproduced: the real set's "onset 0" macro rows (they would drop events from
  the ground truth altogether) and its "floats" (xlsx stores every number as a double;
  the floats readers see come from pandas and missing cells, not from the file).

AUs are written as bare numbers with any laterality the ground truth carries (``4+7``,
``R12``); the real sheets' uncertain codes (``L1 or 2``) are not invented.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from pipeline.synth.layouts.clip import DatasetClip, first_frame_number
from pipeline.synth.layouts.dataset_root import make_dataset_root, write_notice
from pipeline.synth.layouts.emotion import EmotionTable
from pipeline.synth.layouts.facs import au_numbers, facs_code
from pipeline.synth.layouts.images import write_jpeg
from pipeline.synth.layouts.workbook import Cell, Sheet, save_workbook

SAMM_DIR = "SAMM"
SAMM_SHEET = "SAMM_Micro_FACS_Codes_v2.xlsx"
SAMM_HEADER: list[Cell] = ["Subject", "Filename", "Inducement Code", "Onset Frame",
                           "Apex Frame", "Offset Frame", "Duration", "Type", "Action Units",
                           "Estimated Emotion", "Objective Classes", "Notes"]
SAMM_PREAMBLE_ROWS = 13
SAMPLE_RE = r"(\d{3})_(\d+)_(\d+)"
IMAGE_RE = r"(\d{3})_(\d{5})\.jpg"

LV_DIR = "SAMM_longvideos"
LV_SHEET = "SAMM_LongVideos_V1_Release.xlsx"
LV_SHEET_NAME = "FACS_Movement_Only"
LV_HEADER: list[Cell] = ["Subject", "Filename", "Inducement Code", "Onset", "Apex", "Offset",
                         "Duration", "Type", "Action Units", "Notes"]
LV_PREAMBLE_ROWS = 10
LV_VIDEO_RE = r"(\d{3})_(\d+)"
LV_IMAGE_RE = r"(\d{3}_\d+)_(\d{4,})\.jpg"
LV_NO_APEX_PERIOD, LV_NO_APEX_PHASE = 5, 2     # macro rows 3, 8, 13... have apex -1

TYPES = {"micro": "Micro - 1/2", "macro": "Macro"}
N_SUBJECTS = 32

# Generator label -> SAMM "Estimated Emotion". megc3 "negative" becomes Anger, SAMM's
# largest negative class (MEGC maps Anger/Contempt/Disgust/Fear/Sadness to negative).
# CASME II's "repression" has no SAMM counterpart, so it raises.
EMOTIONS = EmotionTable("SAMM", {
    ("megc3", "positive"): "Happiness",
    ("megc3", "negative"): "Anger",
    ("megc3", "surprise"): "Surprise",
    ("casme_sq3", "happy"): "Happiness",
    ("casme_sq3", "angry"): "Anger",
    ("casme_sq3", "disgust"): "Disgust",
    ("casme2", "happiness"): "Happiness",
    ("casme2", "surprise"): "Surprise",
    ("casme2", "disgust"): "Disgust",
    ("casme2", "others"): "Other",
})

# Davison et al.'s objective classes I-VI by exact AU combination, VII otherwise; SAMM
# writes the class number.
_OBJECTIVE = {
    1: ({6}, {12}, {6, 12}, {6, 7, 12}, {7, 12}),
    2: ({1, 2}, {5}, {25}, {1, 2, 25}, {25, 26}, {5, 24}),
    3: ({23}, {4}, {4, 7}, {4, 5}, {4, 5, 7}, {17, 24}, {4, 6, 7}, {4, 38}),
    4: ({10}, {9}, {4, 9}, {4, 40}, {4, 5, 40}, {4, 7, 9}, {4, 9, 17}, {4, 7, 10},
        {4, 5, 7, 9}, {7, 10}),
    5: ({1}, {15}, {1, 4}, {6, 15}, {15, 17}),
    6: ({1, 2, 4}, {20}),
}


def objective_class(aus: Sequence[str]) -> int:
    """Objective class 1..7 of an AU combination (7 = none of the listed combinations)."""
    numbers = au_numbers(aus)
    for cls, combos in _OBJECTIVE.items():
        if numbers in combos:
            return cls
    return 7


def samm_subject(subject: int) -> str:
    """Dataset subject 1..32 -> SAMM's 3-digit id (1 -> ``006``)."""
    if not 1 <= subject <= N_SUBJECTS:
        raise ValueError(f"SAMM has {N_SUBJECTS} subjects, got subject {subject}")
    return f"{subject + 5:03d}"


def _preamble(lines: Sequence[str], rows: int) -> list[list[Cell]]:
    """Text rows above the header, padded with blank rows to exactly ``rows``."""
    return [[line] for line in lines] + [[] for _ in range(rows - len(lines))]


def write_samm(root: Path, clips: Sequence[DatasetClip], fps: float, *,
               quality: int = 95) -> Path:
    """Write ``clips`` (one micro-expression each) as SAMM under ``root/SAMM``; return that
    dataset root. ``clip.name``, if given, must be ``<subject id>_<inducement>_<n>``."""
    for clip in clips:
        clip.check(fps, "SAMM")
        EMOTIONS.name(clip.only_micro_event("SAMM"))
        samm_subject(clip.subject)
    out = make_dataset_root(root, SAMM_DIR)
    per_subject: dict[str, list[str]] = {}
    rows: list[tuple[str, int, list[Cell]]] = []
    for serial, clip in enumerate(clips):
        sid = samm_subject(clip.subject)
        taken = per_subject.setdefault(sid, [])
        j = len(taken)
        name = clip.name or f"{sid}_{1 + j // 2}_{1 + j % 2}"
        m = re.fullmatch(SAMPLE_RE, name)
        if m is None or m.group(1) != sid or name in taken:
            raise ValueError(f"SAMM: bad or repeated sample name {name!r} for subject {sid}")
        taken.append(name)
        folder = out / sid / name
        folder.mkdir(parents=True)
        first = first_frame_number(f"samm/{name}", low=100,
                                   span=max(1, 90_000 - len(clip.frames)))
        for i, frame in enumerate(clip.frames):
            write_jpeg(folder / f"{sid}_{first + i:05d}.jpg", frame, quality, gray=True)
        ev = clip.events[0]
        rows.append((sid, serial, [
            sid, name, int(m.group(2)), first + ev.onset, first + ev.apex, first + ev.offset,
            ev.offset - ev.onset + 1, TYPES["micro"], facs_code(ev.aus), EMOTIONS.name(ev),
            objective_class(ev.aus), None]))
    body = [row for _, _, row in sorted(rows, key=lambda r: (r[0], r[1]))]
    preamble = _preamble([
        "SAMM - Spontaneous Actions and Micro-Movements: FACS codes",
        "SYNTHETIC (mestream): micro-expressions added to real faces; not the SAMM data.",
        "Frame numbers are the absolute numbers in the image file names.",
        "Duration is in frames (offset - onset + 1).",
    ], SAMM_PREAMBLE_ROWS)
    save_workbook(out / SAMM_SHEET, [Sheet("Sheet1", [*preamble, SAMM_HEADER, *body])])
    write_notice(out, "SAMM", fps, len(clips), len(clips),
                 "Grayscale images; absolute 5-digit frame numbers;\n"
                 f"{SAMM_SHEET} has {SAMM_PREAMBLE_ROWS} preamble rows above its header.")
    return out


def write_samm_lv(root: Path, clips: Sequence[DatasetClip], fps: float, *, quality: int = 95,
                  quirks: bool = True) -> Path:
    """Write ``clips`` (one long video each, micro and macro events) as SAMM Long Videos
    under ``root/SAMM_longvideos``; return that dataset root. ``clip.name``, if given, must
    be ``<subject id>_<n>``."""
    for clip in clips:
        clip.check(fps, "SAMM-LV")
        samm_subject(clip.subject)
        for ev in clip.events:
            if ev.kind not in TYPES:
                raise ValueError(f"SAMM-LV: unknown event kind {ev.kind!r}")
    out = make_dataset_root(root, LV_DIR)
    per_subject: dict[str, list[str]] = {}
    videos: list[tuple[str, int, str, DatasetClip]] = []
    for serial, clip in enumerate(clips):
        sid = samm_subject(clip.subject)
        taken = per_subject.setdefault(sid, [])
        video = clip.name or f"{sid}_{len(taken) + 1}"
        m = re.fullmatch(LV_VIDEO_RE, video)
        if m is None or m.group(1) != sid or video in taken:
            raise ValueError(f"SAMM-LV: bad or repeated video name {video!r} for subject {sid}")
        taken.append(video)
        videos.append((sid, serial, video, clip))
        folder = out / video
        folder.mkdir(parents=True)
        for i, frame in enumerate(clip.frames):
            write_jpeg(folder / f"{video}_{i + 1:04d}.jpg", frame, quality, gray=True)
    rows: list[list[Cell]] = []
    n_macro = 0
    for sid, _, video, clip in sorted(videos, key=lambda v: (v[0], v[1])):
        inducement = int(video.split("_")[1])
        for n, ev in enumerate(sorted(clip.events, key=lambda e: (e.onset, e.offset)), 1):
            apex = ev.apex + 1
            if ev.kind == "macro":
                if quirks and n_macro % LV_NO_APEX_PERIOD == LV_NO_APEX_PHASE:
                    apex = -1
                n_macro += 1
            rows.append([sid, f"{video}_{n}", inducement, ev.onset + 1, apex, ev.offset + 1,
                         ev.offset - ev.onset + 1, TYPES[ev.kind], facs_code(ev.aus), None])
    preamble = _preamble([
        "SAMM Long Videos - FACS coded movements (V1 release layout)",
        "SYNTHETIC (mestream): expressions added to real faces; not the SAMM data.",
        "Onset, Apex and Offset are the frame numbers in the image file names (from 1).",
    ], LV_PREAMBLE_ROWS)
    save_workbook(out / LV_SHEET, [Sheet(LV_SHEET_NAME, [*preamble, LV_HEADER, *rows])])
    quirk_note = ("Quirk on: every 5th macro row (3rd, 8th, ...) has apex -1 = not coded."
                  if quirks else "Quirks off: every apex is coded.")
    write_notice(out, "SAMM Long Videos", fps, len(clips), len(rows),
                 f"Grayscale images numbered from 0001.\n{quirk_note}")
    return out
