"""SMIC-HS (Li et al. 2013) layout: ``HS/s1/micro/<class>/s1_po_01/image0NNNNN.jpg``.

What the real release does and is reproduced here (docs/field.md 3.2):

- subject ids with gaps: dataset subjects 1..16 become s1-s6, s8, s9, s11-s15, s18-s20,
  folder names not zero-padded (``s1``, ``s11``);
- class folders ``positive`` / ``negative`` / ``surprise``; sample folders
  ``sN_{po,ne,sur}_NN`` numbered per subject and class from 01;
- a clipped sample runs from the onset to the offset EXACTLY and has no apex anywhere
  (readers take the middle frame or estimate one);
- ``image`` + 6-digit ABSOLUTE frame number of the original recording (``image090823.jpg``);
- the clipped set has no spreadsheet. The SMIC-E style ``SMIC-HS-E_annotation.xlsx``
  (``Subject, Filename, OnsetF, OffsetF, FirstF, Emotion``; absolute onset/offset,
  ``FirstF`` = absolute number of the first frame of the long clip the ME was cut from)
  is written too; with ``quirks`` it ends with text rows after the data, as the real one
  does after row 157, so readers must stop at the first non-numeric row.

Not written: the SMIC-E long-clip images themselves (their folder layout is not documented
here); ``FirstF`` still refers to the caller's whole clip, ``frames[0]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pipeline.synth.layouts.clip import DatasetClip, first_frame_number
from pipeline.synth.layouts.dataset_root import make_dataset_root, write_notice
from pipeline.synth.layouts.emotion import EmotionTable
from pipeline.synth.layouts.images import write_jpeg
from pipeline.synth.layouts.workbook import Cell, Sheet, save_workbook

DATASET_DIR = "SMIC"
HS_DIR = "HS"
E_SHEET = "SMIC-HS-E_annotation.xlsx"
E_HEADER: list[Cell] = ["Subject", "Filename", "OnsetF", "OffsetF", "FirstF", "Emotion"]
HS_SUBJECTS = (1, 2, 3, 4, 5, 6, 8, 9, 11, 12, 13, 14, 15, 18, 19, 20)
CLASS_CODES = {"positive": "po", "negative": "ne", "surprise": "sur"}
SAMPLE_RE = r"s(\d{1,2})_(po|ne|sur)_(\d{2})"
IMAGE_RE = r"image(\d{6})\.jpg"

# Generator label -> SMIC class. SMIC has three classes only: casme2 "others" raises (MEGC
# drops it too); the specific negative emotions all become "negative".
EMOTIONS = EmotionTable("SMIC-HS", {
    ("megc3", "positive"): "positive",
    ("megc3", "negative"): "negative",
    ("megc3", "surprise"): "surprise",
    ("casme2", "happiness"): "positive",
    ("casme2", "surprise"): "surprise",
    ("casme2", "disgust"): "negative",
    ("casme2", "repression"): "negative",
    ("casme_sq3", "happy"): "positive",
    ("casme_sq3", "angry"): "negative",
    ("casme_sq3", "disgust"): "negative",
})


def smic_subject(subject: int) -> int:
    """Dataset subject 1..16 -> SMIC-HS subject id (ids have gaps in the real set)."""
    if not 1 <= subject <= len(HS_SUBJECTS):
        raise ValueError(f"SMIC-HS has {len(HS_SUBJECTS)} subjects, got subject {subject}")
    return HS_SUBJECTS[subject - 1]


def write_smic_hs(root: Path, clips: Sequence[DatasetClip], fps: float, *, quality: int = 95,
                  quirks: bool = True) -> Path:
    """Write every micro-expression of ``clips`` as a SMIC-HS sample under ``root/SMIC``
    (plus the SMIC-E annotation sheet); return that dataset root.

    A clip may hold several events: each becomes its own sample folder, cut onset..offset.
    ``clip.name`` names the sample and is only allowed on a one-event clip.
    """
    for clip in clips:
        clip.check(fps, "SMIC-HS")
        smic_subject(clip.subject)
        for ev in clip.events:
            if ev.kind != "micro":
                raise ValueError(f"SMIC-HS holds micro-expressions only, subject "
                                 f"{clip.subject} has a {ev.kind} event")
            EMOTIONS.name(ev)
        if clip.name is not None and len(clip.events) != 1:
            raise ValueError("SMIC-HS: clip.name names one sample; give it to one-event clips")
    out = make_dataset_root(root, DATASET_DIR)
    counters: dict[tuple[int, str], int] = {}
    taken: set[str] = set()
    rows: list[tuple[int, int, list[Cell]]] = []
    n_events = 0
    for serial, clip in enumerate(clips):
        sid = smic_subject(clip.subject)
        # 6-digit numbers that stay 6 digits to the clip's last frame.
        first = first_frame_number(f"smic/{sid}/{serial}", low=1000,
                                   span=max(1, 990_000 - len(clip.frames)))
        for ev in sorted(clip.events, key=lambda e: (e.onset, e.offset)):
            emotion = EMOTIONS.name(ev)
            code = CLASS_CODES[emotion]
            nn = counters[(sid, code)] = counters.get((sid, code), 0) + 1
            name = clip.name or f"s{sid}_{code}_{nn:02d}"
            if name in taken:
                raise ValueError(f"SMIC-HS: two samples named {name}")
            taken.add(name)
            folder = out / HS_DIR / f"s{sid}" / "micro" / emotion / name
            folder.mkdir(parents=True)
            for i in range(ev.onset, ev.offset + 1):
                write_jpeg(folder / f"image{first + i:06d}.jpg", clip.frames[i], quality)
            rows.append((sid, n_events, [sid, name, first + ev.onset, first + ev.offset,
                                         first, emotion]))
            n_events += 1
    body = [row for _, _, row in sorted(rows, key=lambda r: (r[0], r[1]))]
    if quirks:
        body += [[], ["Note: OnsetF and OffsetF are absolute frame numbers; subtract FirstF "
                      "for the position in the long clip."],
                 ["Synthetic (mestream): not the SMIC-E annotation."]]
    save_workbook(out / E_SHEET, [Sheet("Sheet1", [E_HEADER, *body])])
    write_notice(out, "SMIC-HS", fps, len(clips), n_events,
                 "Clipped samples run onset..offset exactly and carry no apex.\n"
                 f"{E_SHEET} (SMIC-E style) lists absolute onset/offset and FirstF;\n"
                 "the SMIC-E long-clip images are not written.")
    return out
