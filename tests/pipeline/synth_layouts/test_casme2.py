"""CASME II layout read back as its loaders read it."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import pytest

from pipeline.synth.layouts import write_casme2
from tests.pipeline.synth_layouts.fakes import clip, event, numbers, records, sheet_rows

FPS = 200.0


def _clips() -> list:
    return [
        clip(1, 12, [event(3, 5, 8, FPS, label="happiness", label_set="casme2",
                           aus=("AUR12",))], seed=1),
        clip(1, 10, [event(2, 4, 7, FPS, label="negative", aus=("AU4", "AU7"))], seed=2),
        clip(2, 11, [event(4, 6, 9, FPS, label="surprise", label_set="casme2")], seed=3),
        clip(3, 9, [event(1, 2, 6, FPS, label="repression", label_set="casme2",
                          aus=("AU14",))], seed=4),
    ]


def test_casme2_round_trip(tmp_path: Path) -> None:
    clips = _clips()
    out = write_casme2(tmp_path, clips, FPS)
    assert out == tmp_path / "CASME2"
    assert "SYNTHETIC" in (out / "MESTREAM_SYNTHETIC.txt").read_text()
    rows = sheet_rows(out / "CASME2-coding-20140508.xlsx")
    assert rows[0] == ["Subject", "Filename", None, "OnsetFrame", "ApexFrame", "OffsetFrame",
                       None, "Action Units", "Estimated Emotion"]
    recs = records(rows, 0)
    assert len(recs) == len(clips)
    assert [r["Subject"] for r in recs] == [1, 1, 2, 3]          # sorted by subject
    names = [r["Filename"] for r in recs]
    # Irregular names appear even in a small set, all in the official family.
    assert all(re.fullmatch(r"EP\d{2}(_\d{1,2}){0,2}f?", n) for n in names)
    assert any(not re.fullmatch(r"EP\d{2}_\d{2}", n) for n in names)
    assert sorted(p.name for p in (out / "CASME2-RAW").iterdir()) == ["sub01", "sub02", "sub03"]
    expect = {"happiness": ("R12", "happiness"), "negative": ("4+7", "disgust"),
              "surprise": ("1+2", "surprise"), "repression": ("14", "repression")}
    for rec, c in zip(recs, clips, strict=True):
        ev = c.events[0]
        folder = out / "CASME2-RAW" / f"sub{rec['Subject']:02d}" / str(rec["Filename"])
        nums = numbers(folder, r"img(\d+)\.jpg")
        first = nums[0]
        assert first > 1                                           # absolute, not from 1
        assert nums == list(range(first, first + len(c.frames)))
        assert not (folder / f"img{first:03d}.jpg").exists() or first >= 100  # no padding
        assert (rec["OnsetFrame"], rec["ApexFrame"], rec["OffsetFrame"]) == (
            first + ev.onset, first + ev.apex, first + ev.offset)
        assert (rec["Action Units"], rec["Estimated Emotion"]) == expect[ev.label]
        img = cv2.imread(str(folder / f"img{first}.jpg"), cv2.IMREAD_UNCHANGED)
        assert img.shape == (48, 64, 3)


def test_casme2_rejects(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot express label 'angry'"):
        write_casme2(tmp_path, [clip(1, 8, [event(1, 2, 3, FPS, label="angry",
                                                  label_set="casme_sq3")], 0)], FPS)
    with pytest.raises(ValueError, match="exactly one micro-expression"):
        write_casme2(tmp_path, [clip(1, 8, [event(1, 2, 3, FPS), event(4, 5, 6, FPS)], 0)],
                     FPS)
    with pytest.raises(ValueError, match="fps"):
        write_casme2(tmp_path, [clip(1, 8, [event(1, 2, 3, 30.0)], 0)], FPS)
    with pytest.raises(ValueError, match="not inside"):
        write_casme2(tmp_path, [clip(1, 8, [event(1, 2, 8, FPS)], 0)], FPS)
    assert not (tmp_path / "CASME2").exists()                      # nothing half-written
