"""CAS(ME)^2 reader on synthetic CAS(ME)^2 written by pipeline.synth.layouts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.synth.layouts import write_casme_sq
from tests.pipeline.synth_layouts.fakes import clip, event
from tests.train.datasets.sheets import excel_row, set_cell
from train.datasets import (
    PAPER1_CASME_SQ_LABELS,
    DatasetError,
    long_videos,
    read_casme_sq,
    stimulus_emotion,
)

FPS = 30.0
BOOK = "CAS(ME)^2code_final.xlsx"
CODES = "CASFEcode_final"
MAC = {"kind": "macro", "label_set": "casme_sq3"}


def _clips() -> list:
    return [
        clip(1, 120, [event(5, 9, 14, FPS, label="negative", aus=("AU4", "AU7")),
                      event(30, 40, 60, FPS, label="happy", aus=("AU6", "AU12"), **MAC),
                      event(70, 80, 95, FPS, label="disgust", aus=("AU9",), **MAC)], seed=1),
        clip(1, 105, [event(10, 20, 40, FPS, label="angry", aus=("AU4",), **MAC)], seed=2,
             name="anger1"),
        clip(2, 90, [event(50, 52, 56, FPS, label="surprise", aus=("AU1", "AU2")),
                     event(60, 70, 80, FPS, label="happy", aus=("AUR12",), **MAC)], seed=3),
    ]


def test_casme_sq_round_trip(tmp_path: Path) -> None:
    clips = _clips()
    out = write_casme_sq(tmp_path, clips, FPS)
    samples = read_casme_sq(out)
    assert [(s.subject, s.clip, s.video) for s in samples] == [
        ("s15", "disgust1_1", "15_0101disgustingteeth"),
        ("s15", "disgust1_2", "15_0101disgustingteeth"),
        ("s15", "disgust1_3", "15_0101disgustingteeth"),
        ("s15", "anger1_1", "15_0401girlcrashing"),
        ("s16", "disgust1_1", "16_0101disgustingteeth"),
        ("s16", "disgust1_2", "16_0101disgustingteeth")]
    events = [(clips[0], e) for e in clips[0].events] + [(clips[1], clips[1].events[0])] + [
        (clips[2], e) for e in clips[2].events]
    labels = ["negative", "positive", "negative", "negative", "surprise", "positive"]
    aus = ["4+7", "6+12", "9", "4", "1+2", "R12"]
    for s, (c, ev), label, au in zip(samples, events, labels, aus, strict=True):
        # The whole long video, img001 first, in numeric order.
        assert len(s.frames) == len(c.frames) and s.first_frame_number == 1
        assert [p.name for p in s.frames[:2]] == ["img001.jpg", "img002.jpg"]
        assert s.frames[-1].name == f"img{len(c.frames):03d}.jpg"
        assert (s.onset, s.apex) == (ev.onset, ev.apex)
        if s.clip == "anger1_1":
            # Quirk: 3rd macro row has offset 0 = not coded -> the apex is the offset.
            assert s.offset == ev.apex and "offset not coded (0); apex used" in s.notes
        else:
            assert s.offset == ev.offset and s.notes == ""
        assert (s.label, s.aus, s.kind, s.fps) == (label, au, ev.kind, FPS)
        assert s.dataset == "casme_sq"
    assert read_casme_sq(tmp_path) == samples
    # The expressions of one video share its frame list.
    assert samples[0].frames is samples[2].frames


def test_casme_sq_long_videos(tmp_path: Path) -> None:
    videos = long_videos(read_casme_sq(write_casme_sq(tmp_path, _clips(), FPS)))
    assert [(v.subject, v.video, len(v.frames), len(v.expressions)) for v in videos] == [
        ("s15", "15_0101disgustingteeth", 120, 3), ("s15", "15_0401girlcrashing", 105, 1),
        ("s16", "16_0101disgustingteeth", 90, 2)]
    assert [e.kind for e in videos[0].expressions] == ["micro", "macro", "macro"]


def test_casme_sq_apex_zero_is_midpoint(tmp_path: Path) -> None:
    out = write_casme_sq(tmp_path, _clips(), FPS, quirks=False)
    set_cell(out / BOOK, 2, 3, 0, sheet=CODES)           # disgust1_2 of s15: apex 0
    s = read_casme_sq(out)[1]
    assert (s.onset, s.apex, s.offset) == (30, 45, 60)
    assert "apex not coded (0); midpoint used" in s.notes


def test_casme_sq_bad_cell_names_file_and_row(tmp_path: Path) -> None:
    out = write_casme_sq(tmp_path, _clips(), FPS)
    row = excel_row(out / BOOK, 1, "anger1_1", sheet=CODES)
    set_cell(out / BOOK, row, 2, "abc", sheet=CODES)
    with pytest.raises(DatasetError, match=rf"^CAS\(ME\)\^2code_final\.xlsx \[{CODES}\] row "
                                           rf"{row}: onset 'abc' is not a number$"):
        read_casme_sq(out)


def test_casme_sq_unknown_video_and_missing_folder(tmp_path: Path) -> None:
    out = write_casme_sq(tmp_path, _clips(), FPS)
    shutil.rmtree(out / "rawpic" / "s16")
    with pytest.raises(DatasetError, match=r"row 5: no video folder .*s16/16_0101\*"):
        read_casme_sq(out)
    assert len(read_casme_sq(out, missing="skip")) == 4
    set_cell(out / BOOK, 1, 1, "sadness1_1", sheet=CODES)
    with pytest.raises(DatasetError, match="row 1: video 'sadness1'.*naming rule2"):
        read_casme_sq(out)


def test_stimulus_emotion_paper1(tmp_path: Path) -> None:
    samples = read_casme_sq(write_casme_sq(tmp_path, _clips(), FPS))
    assert [stimulus_emotion(s) for s in samples] == ["disgust"] * 3 + ["angry"] + [
        "disgust"] * 2
    assert PAPER1_CASME_SQ_LABELS == {"angry": 0, "happy": 1, "disgust": 2}
