"""SAMM and SAMM-LV layouts read back as their loaders read them."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import pytest

from pipeline.synth.layouts import write_samm, write_samm_lv
from tests.pipeline.synth_layouts.fakes import clip, event, numbers, records, sheet_rows

FPS = 200.0


def test_samm_round_trip(tmp_path: Path) -> None:
    clips = [
        clip(1, 12, [event(3, 5, 8, FPS, label="positive", aus=("AU6", "AU12"))], seed=1),
        clip(1, 10, [event(2, 4, 7, FPS, label="negative", aus=("AU4", "AU7"))], seed=2),
        clip(1, 10, [event(2, 3, 5, FPS, label="others", label_set="casme2",
                           aus=("AUR14",))], seed=3),
        clip(3, 9, [event(1, 2, 6, FPS, label="angry", label_set="casme_sq3",
                          aus=("AU4",))], seed=4),
    ]
    out = write_samm(tmp_path, clips, FPS)
    assert out == tmp_path / "SAMM"
    rows = sheet_rows(out / "SAMM_Micro_FACS_Codes_v2.xlsx")
    header_at = next(i for i, r in enumerate(rows) if "Filename" in r)   # as MEB does
    assert header_at > 0 and isinstance(rows[0][0], str)                  # text preamble
    assert rows[header_at] == ["Subject", "Filename", "Inducement Code", "Onset Frame",
                               "Apex Frame", "Offset Frame", "Duration", "Type",
                               "Action Units", "Estimated Emotion", "Objective Classes",
                               "Notes"]
    recs = records(rows, header_at)
    assert [r["Filename"] for r in recs] == ["006_1_1", "006_1_2", "006_2_1", "008_1_1"]
    emotions = ["Happiness", "Anger", "Other", "Anger"]
    aus = ["6+12", "4+7", "R14", "4"]
    classes = [1, 3, 7, 3]
    for rec, c, emo, au, cls in zip(recs, clips, emotions, aus, classes, strict=True):
        ev = c.events[0]
        sid, ind, _ = re.fullmatch(r"(\d{3})_(\d+)_(\d+)", rec["Filename"]).groups()
        assert rec["Subject"] == sid and rec["Inducement Code"] == int(ind)
        folder = out / sid / rec["Filename"]
        nums = numbers(folder, rf"{sid}_(\d{{5}})\.jpg")
        first = nums[0]
        assert nums == list(range(first, first + len(c.frames))) and first > 1
        assert (rec["Onset Frame"], rec["Apex Frame"], rec["Offset Frame"]) == (
            first + ev.onset, first + ev.apex, first + ev.offset)
        assert rec["Duration"] == ev.offset - ev.onset + 1 and rec["Type"] == "Micro - 1/2"
        assert (rec["Action Units"], rec["Estimated Emotion"]) == (au, emo)
        assert rec["Objective Classes"] == cls
        img = cv2.imread(str(folder / f"{sid}_{first:05d}.jpg"), cv2.IMREAD_UNCHANGED)
        assert img.ndim == 2 and img.shape == (48, 64)                    # grayscale


def test_samm_rejects(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot express label 'repression'"):
        write_samm(tmp_path, [clip(1, 8, [event(1, 2, 3, FPS, label="repression",
                                                label_set="casme2")], 0)], FPS)
    with pytest.raises(ValueError, match="32 subjects"):
        write_samm(tmp_path, [clip(33, 8, [event(1, 2, 3, FPS)], 0)], FPS)


def _lv_clips() -> list:
    mac = {"kind": "macro"}
    return [
        clip(1, 80, [event(5, 8, 12, FPS), event(20, 30, 50, FPS, **mac),
                     event(55, 60, 70, FPS, **mac)], seed=1),
        clip(1, 60, [event(10, 20, 40, FPS, aus=("AU4",), **mac)], seed=2),
        clip(2, 70, [event(3, 6, 9, FPS, aus=("AUL2",)),
                     event(40, 50, 65, FPS, **mac)], seed=3),
    ]


def _lv_records(out: Path) -> list[dict]:
    rows = sheet_rows(out / "SAMM_LongVideos_V1_Release.xlsx", "FACS_Movement_Only")
    assert all(len([v for v in r if v is not None]) <= 1 for r in rows[:10])
    return records(rows, 10)                                   # 10 preamble rows, as SOFTNet


def test_samm_lv_round_trip(tmp_path: Path) -> None:
    clips = _lv_clips()
    out = write_samm_lv(tmp_path, clips, FPS)
    assert out == tmp_path / "SAMM_longvideos"
    recs = _lv_records(out)
    assert [r["Filename"] for r in recs] == ["006_1_1", "006_1_2", "006_1_3", "006_2_1",
                                             "007_1_1", "007_1_2"]
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["006_1", "006_2", "007_1"]
    no_apex = 0
    for rec in recs:
        video, n = rec["Filename"].rsplit("_", 1)
        sid, k = video.split("_")
        assert rec["Subject"] == sid and rec["Inducement Code"] == int(k)
        c = [c for c in clips if c.subject == int(sid) - 5][int(k) - 1]
        nums = numbers(out / video, rf"{video}_(\d{{4}})\.jpg")
        assert nums == list(range(1, len(c.frames) + 1))
        ev = sorted(c.events, key=lambda e: e.onset)[int(n) - 1]
        # Loaders round: pandas turns a column into floats once a cell is missing.
        assert (round(rec["Onset"]), round(rec["Offset"])) == (ev.onset + 1, ev.offset + 1)
        if rec["Apex"] == -1:                               # quirk: apex not coded
            assert rec["Type"] == "Macro"
            no_apex += 1
        else:
            assert round(rec["Apex"]) == ev.apex + 1
        assert rec["Type"] == {"micro": "Micro - 1/2", "macro": "Macro"}[ev.kind]
        assert rec["Duration"] == ev.offset - ev.onset + 1
        assert rec["Action Units"] == "+".join(a.removeprefix("AU") for a in ev.aus)
    assert no_apex == 1                                  # 3rd macro row of 4
    img = cv2.imread(str(out / "006_1" / "006_1_0001.jpg"), cv2.IMREAD_UNCHANGED)
    assert img.ndim == 2


def test_samm_lv_without_quirks(tmp_path: Path) -> None:
    recs = _lv_records(write_samm_lv(tmp_path, _lv_clips(), FPS, quirks=False))
    assert all(isinstance(r["Apex"], int) and r["Apex"] > 0 for r in recs)
