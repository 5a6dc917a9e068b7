"""SMIC reader on synthetic SMIC-HS written by pipeline.synth.layouts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.synth.layouts import write_smic_hs
from tests.pipeline.synth_layouts.fakes import clip, event
from train.datasets import DatasetError, read_dataset, read_smic, read_smic_hs

FPS = 100.0


def _clips() -> list:
    return [
        clip(1, 60, [event(2, 8, 15, FPS, label="positive"),
                     event(20, 30, 40, FPS, label="negative")], seed=1),
        clip(1, 30, [event(3, 9, 16, FPS, label="positive")], seed=2),
        clip(7, 20, [event(1, 5, 13, FPS, label="disgust", label_set="casme2")], seed=3),
        clip(9, 15, [event(0, 2, 14, FPS, label="surprise")], seed=4),
    ]


def test_smic_round_trip(tmp_path: Path) -> None:
    clips = _clips()
    out = write_smic_hs(tmp_path, clips, FPS)
    samples = read_smic_hs(out)
    # Subjects in numeric order (s1 < s8 < s11), classes and clips by name.
    assert [(s.subject, s.label, s.clip) for s in samples] == [
        ("s1", "negative", "s1_ne_01"), ("s1", "positive", "s1_po_01"),
        ("s1", "positive", "s1_po_02"), ("s8", "negative", "s8_ne_01"),
        ("s11", "surprise", "s11_sur_01")]
    expected = {"s1_po_01": clips[0].events[0], "s1_ne_01": clips[0].events[1],
                "s1_po_02": clips[1].events[0], "s8_ne_01": clips[2].events[0],
                "s11_sur_01": clips[3].events[0]}
    for s in samples:
        ev = expected[s.clip]
        n = ev.offset - ev.onset + 1
        assert len(s.frames) == n >= 12
        numbers = [int(re.fullmatch(r"image(\d{6})\.jpg", p.name).group(1)) for p in s.frames]
        assert numbers == list(range(s.first_frame_number, s.first_frame_number + n))
        # No apex in SMIC: the clip is the expression.
        assert (s.onset, s.apex, s.offset) == (0, None, n - 1)
        assert s.apex_or_middle() == (n - 1) // 2 and "no apex" in s.notes
        assert (s.dataset, s.kind, s.fps, s.aus) == ("smic_hs", "micro", FPS, "")
    assert read_smic(out / "HS") == samples == read_dataset("smic_hs", tmp_path)


def test_smic_bmp_frames(tmp_path: Path) -> None:
    out = write_smic_hs(tmp_path, _clips(), FPS)
    folder = out / "HS" / "s11" / "micro" / "surprise" / "s11_sur_01"
    for p in folder.iterdir():
        p.rename(p.with_suffix(".bmp"))
    s = read_smic_hs(out)[-1]
    assert s.clip == "s11_sur_01" and len(s.frames) == 15
    assert all(p.suffix == ".bmp" for p in s.frames)


def test_smic_errors(tmp_path: Path) -> None:
    out = write_smic_hs(tmp_path, _clips(), FPS)
    with pytest.raises(DatasetError, match="no SMIC VIS folder"):
        read_smic(out, "VIS")
    with pytest.raises(ValueError, match="modality"):
        read_smic(out, "IR")  # type: ignore[arg-type]
    empty = out / "HS" / "s1" / "micro" / "positive" / "s1_po_03"
    empty.mkdir()
    with pytest.raises(DatasetError, match="s1_po_03: no numbered frame images"):
        read_smic_hs(out)
    empty.rmdir()
    (out / "HS" / "s1" / "micro" / "happy").mkdir()
    with pytest.raises(DatasetError, match="happy: unknown class folder"):
        read_smic_hs(out)
