"""CAS(ME)^2 (Qu et al. 2018) part A layout: long videos in
``CASME_sq/rawpic/s15/15_0101disgustingteeth/img001.jpg`` + ``CAS(ME)^2code_final.xlsx``.

What the real release does and is reproduced here (docs/field.md 3.3):

- 22 subjects in folders ``s15``..``s40`` (with gaps); a video folder is the subject
  prefix, the 4-digit video code and the stimulus description (``15_0101disgustingteeth``);
- images ``img`` + frame number from 1, at least 3 digits (``img001``, ``img100``,
  ``img1000``), so annotation frame = 0-based index + 1;
- the workbook has three sheets, all WITHOUT header row:
  ``CASFEcode_final``: subject number, ``<video name>_<n>`` (``anger1_1``), onset, apex,
  offset, AUs, emotion, ``macro-expression``/``micro-expression``, self-reported emotion
  (loaders call them ``subject, video, onset, apex, offset, au, emotion, type, selfReport``);
  ``naming rule1``: folder number (15), folder (``s15``), subject number (1);
  ``naming rule2``: video code (``0401``, a text cell) and video name (``anger1``);
- quirk (``quirks=True``): "offset 0 = not coded" on every 5th macro row (macro rows 3, 8,
  13... counted over the whole sheet in row order). Those rows lose their offset, exactly as
  in the real sheet: readers must fall back to the apex (MDMD sets offset = apex). The true
  offset stays in the generator's ground truth, not in the sheet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.synth.layouts.clip import DatasetClip
from pipeline.synth.layouts.dataset_root import make_dataset_root, write_notice
from pipeline.synth.layouts.emotion import EmotionTable
from pipeline.synth.layouts.facs import facs_code
from pipeline.synth.layouts.images import write_jpeg
from pipeline.synth.layouts.workbook import Cell, Sheet, save_workbook

DATASET_DIR = "CASME_sq"
RAWPIC_DIR = "rawpic"
CODE_SHEET = "CAS(ME)^2code_final.xlsx"
SUBJECT_FOLDERS = (15, 16, 19, 20, 21, 22, 23, 24, 25, 26, 27, 29, 30, 31, 32, 33, 34, 35,
                   36, 37, 38, 40)
VIDEO_RE = r"(\d{2})_(\d{4})([a-z]+)"
IMAGE_RE = r"img(\d{3,})\.jpg"
CLIP_RE = r"([a-z]+\d)_(\d+)"
UNCODED_OFFSET_PERIOD = 5     # every 5th macro row has offset 0 when quirks are on
UNCODED_OFFSET_PHASE = 2      # ... starting with the 3rd


@dataclass(frozen=True)
class Stimulus:
    """One elicitation video of CAS(ME)^2: the long videos are named after it."""

    code: str           # 4 digits: emotion category (01 disgust, 04 anger, 05 happy) + number
    name: str           # the name used in CASFEcode_final (``anger1``)
    description: str    # appended to the folder name (``15_0401girlcrashing``)


# Modelled on the real release's stimuli ("unnyfarting" is the release's own spelling).
# A subject's j-th video takes the j-th stimulus unless the clip names one.
STIMULI = (
    Stimulus("0101", "disgust1", "disgustingteeth"),
    Stimulus("0102", "disgust2", "eatingworms"),
    Stimulus("0401", "anger1", "girlcrashing"),
    Stimulus("0402", "anger2", "beatingpregnantwoman"),
    Stimulus("0502", "happy1", "funnyerrors"),
    Stimulus("0503", "happy2", "unnyfarting"),
    Stimulus("0505", "happy3", "funnyinnovations"),
    Stimulus("0507", "happy4", "climbingthewall"),
    Stimulus("0508", "happy5", "funnydunkey"),
)

# Generator label -> the sheet's emotion column (positive / negative / surprise / others).
EMOTIONS = EmotionTable("CAS(ME)^2", {
    ("megc3", "positive"): "positive",
    ("megc3", "negative"): "negative",
    ("megc3", "surprise"): "surprise",
    ("casme_sq3", "happy"): "positive",
    ("casme_sq3", "angry"): "negative",
    ("casme_sq3", "disgust"): "negative",
    ("casme2", "happiness"): "positive",
    ("casme2", "surprise"): "surprise",
    ("casme2", "disgust"): "negative",
    ("casme2", "repression"): "negative",
    ("casme2", "others"): "others",
})
# ... and -> the self-report column, which keeps the specific emotion where there is one.
SELF_REPORTS = EmotionTable("CAS(ME)^2 self-report", {
    ("megc3", "positive"): "positive",
    ("megc3", "negative"): "negative",
    ("megc3", "surprise"): "surprise",
    ("casme_sq3", "happy"): "happy",
    ("casme_sq3", "angry"): "anger",
    ("casme_sq3", "disgust"): "disgust",
    ("casme2", "happiness"): "happy",
    ("casme2", "surprise"): "surprise",
    ("casme2", "disgust"): "disgust",
    ("casme2", "repression"): "repression",
    ("casme2", "others"): "others",
})
TYPES = {"micro": "micro-expression", "macro": "macro-expression"}


def folder_number(subject: int) -> int:
    """Dataset subject 1..22 -> its folder number (1 -> 15 for ``s15``)."""
    if not 1 <= subject <= len(SUBJECT_FOLDERS):
        raise ValueError(f"CAS(ME)^2 has {len(SUBJECT_FOLDERS)} subjects, got {subject}")
    return SUBJECT_FOLDERS[subject - 1]


def _stimulus(clip: DatasetClip, used: list[Stimulus]) -> Stimulus:
    if clip.name is None:
        free = [s for s in STIMULI if s not in used]
        if not free:
            raise ValueError(f"CAS(ME)^2: subject {clip.subject} has more than "
                             f"{len(STIMULI)} videos")
        return free[0]
    by_name = {s.name: s for s in STIMULI}
    if clip.name not in by_name:
        raise ValueError(f"CAS(ME)^2: video name {clip.name!r} is not one of {list(by_name)}")
    if by_name[clip.name] in used:
        raise ValueError(f"CAS(ME)^2: subject {clip.subject} has two {clip.name} videos")
    return by_name[clip.name]


def write_casme_sq(root: Path, clips: Sequence[DatasetClip], fps: float, *, quality: int = 95,
                   quirks: bool = True) -> Path:
    """Write ``clips`` (one long video each, micro and macro events) as CAS(ME)^2 under
    ``root/CASME_sq``; return that dataset root."""
    for clip in clips:
        clip.check(fps, "CAS(ME)^2")
        folder_number(clip.subject)
        for ev in clip.events:
            EMOTIONS.name(ev)
            if ev.kind not in TYPES:
                raise ValueError(f"CAS(ME)^2: unknown event kind {ev.kind!r}")
    out = make_dataset_root(root, DATASET_DIR)
    used: dict[int, list[Stimulus]] = {}
    videos: list[tuple[int, int, DatasetClip, Stimulus]] = []
    for clip in clips:
        stim = _stimulus(clip, used.setdefault(clip.subject, []))
        used[clip.subject].append(stim)
        videos.append((clip.subject, STIMULI.index(stim), clip, stim))
        num = folder_number(clip.subject)
        folder = out / RAWPIC_DIR / f"s{num}" / f"{num}_{stim.code}{stim.description}"
        folder.mkdir(parents=True)
        for i, frame in enumerate(clip.frames):
            write_jpeg(folder / f"img{i + 1:03d}.jpg", frame, quality)
    rows: list[list[Cell]] = []
    n_macro = 0
    for subject, _, clip, stim in sorted(videos, key=lambda v: (v[0], v[1])):
        events = sorted(clip.events, key=lambda e: (e.onset, e.offset))
        for n, ev in enumerate(events, start=1):
            offset: int = ev.offset + 1
            if ev.kind == "macro":
                if quirks and n_macro % UNCODED_OFFSET_PERIOD == UNCODED_OFFSET_PHASE:
                    offset = 0
                n_macro += 1
            rows.append([subject, f"{stim.name}_{n}", ev.onset + 1, ev.apex + 1, offset,
                         facs_code(ev.aus), EMOTIONS.name(ev), TYPES[ev.kind],
                         SELF_REPORTS.name(ev)])
    rule1: list[list[Cell]] = [[num, f"s{num}", k] for k, num in enumerate(SUBJECT_FOLDERS, 1)]
    rule2: list[list[Cell]] = [[s.code, s.name] for s in STIMULI]
    save_workbook(out / CODE_SHEET, [Sheet("CASFEcode_final", rows),
                                     Sheet("naming rule1", rule1),
                                     Sheet("naming rule2", rule2)])
    quirk_note = ("Quirk on: every 5th macro row (3rd, 8th, ...) has offset 0 = not coded;\n"
                  "use the apex there." if quirks else "Quirks off: every offset is coded.")
    write_notice(out, "CAS(ME)^2", fps, len(clips), len(rows),
                 "Images are numbered from img001; sheet frame = image number.\n" + quirk_note)
    return out
