"""SAMM Long Videos reader on synthetic SAMM-LV written by pipeline.synth.layouts."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pipeline.synth.layouts import write_samm_lv
from tests.pipeline.synth_layouts.fakes import clip, event
from tests.train.datasets.sheets import excel_row, set_cell
from train.datasets import DatasetError, long_videos, read_samm_lv

FPS = 200.0
BOOK = "SAMM_LongVideos_V1_Release.xlsx"
SHEET = "FACS_Movement_Only"
MAC = {"kind": "macro"}


def _clips() -> list:
    return [
        clip(1, 80, [event(5, 8, 12, FPS), event(20, 30, 50, FPS, **MAC),
                     event(55, 60, 70, FPS, **MAC)], seed=1),
        clip(1, 60, [event(10, 20, 40, FPS, aus=("AU4",), **MAC)], seed=2),
        clip(2, 70, [event(3, 6, 9, FPS, aus=("AUL2",)),
                     event(40, 50, 65, FPS, **MAC)], seed=3),
    ]


def _events() -> list:
    c = _clips()
    return [(c[0], e) for e in c[0].events] + [(c[1], c[1].events[0])] + [
        (c[2], e) for e in c[2].events]


def test_samm_lv_round_trip(tmp_path: Path) -> None:
    out = write_samm_lv(tmp_path, _clips(), FPS)
    samples = read_samm_lv(out)
    assert [(s.subject, s.video, s.clip) for s in samples] == [
        ("006", "006_1", "006_1_1"), ("006", "006_1", "006_1_2"), ("006", "006_1", "006_1_3"),
        ("006", "006_2", "006_2_1"), ("007", "007_1", "007_1_1"), ("007", "007_1", "007_1_2")]
    aus = ["1+2", "1+2", "1+2", "4", "L2", "1+2"]
    for s, (c, ev), au in zip(samples, _events(), aus, strict=True):
        assert len(s.frames) == len(c.frames) and s.first_frame_number == 1
        assert [p.name for p in s.frames[8:11]] == [f"{s.video}_{n:04d}.jpg"
                                                    for n in (9, 10, 11)]
        assert (s.onset, s.offset) == (ev.onset, ev.offset)
        if s.clip == "006_2_1":
            # Quirk: the 3rd macro row has apex -1 = not coded.
            assert s.apex is None and s.notes == "apex not coded (-1)"
            assert s.apex_or_middle() == (ev.onset + ev.offset) // 2
        else:
            assert s.apex == ev.apex and s.notes == ""
        assert (s.label, s.aus, s.kind, s.fps) == (None, au, ev.kind, FPS)
    assert read_samm_lv(tmp_path) == samples
    videos = long_videos(samples)
    assert [(v.video, len(v.frames), len(v.expressions)) for v in videos] == [
        ("006_1", 80, 3), ("006_2", 60, 1), ("007_1", 70, 2)]


def test_samm_lv_quirks(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = write_samm_lv(tmp_path, _clips(), FPS, quirks=False)
    book = out / BOOK
    set_cell(book, excel_row(book, "Filename", "006_1_3", SHEET), "Onset", 0, SHEET)
    row = excel_row(book, "Filename", "007_1_2", SHEET)
    set_cell(book, row, "Onset", 41.4, SHEET)            # floats are rounded
    set_cell(book, row, "Offset", 65.6, SHEET)
    set_cell(book, row, "Apex", 70, SHEET)                # past the offset
    with caplog.at_level(logging.WARNING):
        samples = read_samm_lv(out)
    assert "006_1_3" not in [s.clip for s in samples]    # onset 0: dropped, as SOFTNet
    assert "1 rows" in caplog.text and "onset 0" in caplog.text
    s = samples[-1]
    assert (s.onset, s.apex, s.offset) == (40, None, 65)
    assert "apex 70 is outside onset..offset 41..66" in s.notes


def test_samm_lv_bad_cells(tmp_path: Path) -> None:
    out = write_samm_lv(tmp_path, _clips(), FPS)
    book = out / BOOK
    row = excel_row(book, "Filename", "007_1_1", SHEET)
    assert row > 11                                      # under the 10-row preamble
    set_cell(book, row, "Offset", "abc", SHEET)
    with pytest.raises(DatasetError, match=rf"^{BOOK} \[{SHEET}\] row {row}: Offset 'abc' is "
                                           "not a number$"):
        read_samm_lv(out)
    set_cell(book, row, "Offset", 9, SHEET)
    set_cell(book, row, "Type", None, SHEET)
    with pytest.raises(DatasetError, match=rf"row {row}: Type is empty"):
        read_samm_lv(out)
    set_cell(book, row, "Type", "Micro - 1/2", SHEET)
    set_cell(book, row, "Onset", 500, SHEET)
    with pytest.raises(DatasetError, match=rf"row {row}: offset 9 is before onset 500"):
        read_samm_lv(out)


def test_samm_lv_missing_video(tmp_path: Path) -> None:
    out = write_samm_lv(tmp_path, _clips(), FPS)
    for p in (out / "006_2").iterdir():
        p.unlink()
    (out / "006_2").rmdir()
    row = excel_row(out / BOOK, "Filename", "006_2_1", SHEET)
    with pytest.raises(DatasetError, match=rf"row {row}: video folder .*006_2 is missing"):
        read_samm_lv(out)
    assert len(read_samm_lv(out, missing="skip")) == 5
