"""CASME II (Yan et al. 2014) layout: ``CASME2-RAW/subXX/EPyy_zz/imgN.jpg`` + coding sheet.

What the real release does and is reproduced here (docs/field.md 3.1):

- one folder per sample, one ME per sample: the clip runs a little before the onset to a
  little after the offset (the margin is whatever the caller's frames hold);
- ``imgN.jpg`` with N the ABSOLUTE frame number of the original recording, not padded and
  not starting at 1 (``img46.jpg`` first): readers must sort numerically;
- subject folders ``sub01``.. (zero-padded), sample folders ``EPyy_zz`` with irregular
  variants (``EP02_01f``, ``EP09f``, ``EP06_02_01``, ``EP01_2``), chosen deterministically;
- ``CASME2-coding-20140508.xlsx``: header row ``Subject, Filename, <blank>, OnsetFrame,
  ApexFrame, OffsetFrame, <blank>, Action Units, Estimated Emotion``; frames are the
  absolute image numbers, AUs are bare numbers (``4+7``, ``R12``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pipeline.synth.layouts.clip import DatasetClip, first_frame_number
from pipeline.synth.layouts.dataset_root import make_dataset_root, write_notice
from pipeline.synth.layouts.emotion import EmotionTable
from pipeline.synth.layouts.facs import facs_code
from pipeline.synth.layouts.images import write_jpeg
from pipeline.synth.layouts.workbook import Cell, Sheet, save_workbook

DATASET_DIR = "CASME2"
RAW_DIR = "CASME2-RAW"
CODING_SHEET = "CASME2-coding-20140508.xlsx"
HEADER: list[Cell] = ["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame",
                      None, "Action Units", "Estimated Emotion"]
SUBJECT_RE = r"sub\d{2}"
FILENAME_RE = r"EP\d{2}(?:_\d{1,2}){0,2}f?"
IMAGE_RE = r"img(\d+)\.jpg"

# Generator label -> CASME II "Estimated Emotion". megc3 "negative" becomes disgust, CASME
# II's largest negative class (MEGC's composite maps disgust+repression back to negative).
# casme_sq3 "angry" has no CASME II counterpart, so it raises.
EMOTIONS = EmotionTable("CASME II", {
    ("casme2", "happiness"): "happiness",
    ("casme2", "surprise"): "surprise",
    ("casme2", "disgust"): "disgust",
    ("casme2", "repression"): "repression",
    ("casme2", "others"): "others",
    ("megc3", "positive"): "happiness",
    ("megc3", "negative"): "disgust",
    ("megc3", "surprise"): "surprise",
    ("casme_sq3", "happy"): "happiness",
    ("casme_sq3", "disgust"): "disgust",
})


def sample_name(subject: int, index: int, serial: int) -> str:
    """The ``index``-th sample of ``subject`` (``serial``-th of the dataset).

    Episode numbers differ for every sample of a subject, so the irregular styles can never
    collide. Styles cycle so that even a 2-clip dataset shows irregular names.
    """
    episode = index + 1 + subject % 3
    take = 1 + (subject + index) % 3
    styles = (f"EP{episode:02d}_{take:02d}",       # regular
              f"EP{episode:02d}_{take:02d}f",      # EP02_01f
              f"EP{episode:02d}f",                 # EP09f
              f"EP{episode:02d}_{take:02d}_01",    # EP06_02_01
              f"EP{episode:02d}_{take}",           # EP01_2
              f"EP{episode:02d}_{take:02d}")
    return styles[serial % len(styles)]


def write_casme2(root: Path, clips: Sequence[DatasetClip], fps: float, *,
                 quality: int = 95) -> Path:
    """Write ``clips`` (one micro-expression each) as CASME II under ``root/CASME2``;
    return that dataset root."""
    for clip in clips:
        clip.check(fps, "CASME II")
        clip.only_micro_event("CASME II")
        EMOTIONS.name(clip.events[0])        # fail before writing anything
    out = make_dataset_root(root, DATASET_DIR)
    per_subject: dict[int, list[str]] = {}
    rows: list[tuple[int, int, list[Cell]]] = []
    for serial, clip in enumerate(clips):
        taken = per_subject.setdefault(clip.subject, [])
        name = clip.name or sample_name(clip.subject, len(taken), serial)
        if name in taken:
            raise ValueError(f"CASME II: subject {clip.subject} has two samples named {name}")
        taken.append(name)
        folder = out / RAW_DIR / f"sub{clip.subject:02d}" / name
        folder.mkdir(parents=True)
        # > 1: the clips are cut out of longer recordings.
        first = first_frame_number(f"casme2/{clip.subject}/{name}", low=2, span=300)
        for i, frame in enumerate(clip.frames):
            write_jpeg(folder / f"img{first + i}.jpg", frame, quality)
        ev = clip.events[0]
        rows.append((clip.subject, serial, [
            clip.subject, name, None, first + ev.onset, first + ev.apex, first + ev.offset,
            None, facs_code(ev.aus), EMOTIONS.name(ev)]))
    # The real sheet is ordered by subject.
    body = [row for _, _, row in sorted(rows, key=lambda r: (r[0], r[1]))]
    save_workbook(out / CODING_SHEET, [Sheet("Sheet1", [HEADER, *body])])
    write_notice(out, "CASME II", fps, len(clips), len(clips),
                 "Image numbers are absolute (clips start at an arbitrary imgN.jpg);\n"
                 f"{CODING_SHEET} frames are those image numbers.")
    return out
