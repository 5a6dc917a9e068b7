"""CASME II reader on synthetic CASME II written by pipeline.synth.layouts."""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

import pytest

from pipeline.synth.layouts import write_casme2
from tests.pipeline.synth_layouts.fakes import clip, event
from tests.train.datasets.sheets import excel_row, set_cell
from train.datasets import DatasetError, read_casme2, read_dataset

FPS = 200.0
SHEET = "CASME2-coding-20140508.xlsx"


def _clips() -> list:
    # EP17_01 of subject 1 starts at img7 and EP23_01 of subject 3 at img90 (the writer's
    # deterministic numbering), so img9/img10 and img99/img100 are both inside a clip.
    return [
        clip(1, 12, [event(3, 5, 8, FPS, label="happiness", label_set="casme2",
                           aus=("AUR12",))], seed=1, name="EP17_01"),
        clip(1, 14, [event(2, 4, 7, FPS, label="negative", aus=("AU4", "AU7"))], seed=2),
        clip(2, 12, [event(4, 6, 9, FPS, label="surprise", label_set="casme2")], seed=3),
        clip(3, 13, [event(1, 2, 6, FPS, label="repression", label_set="casme2",
                           aus=("AU14",))], seed=4, name="EP23_01"),
    ]


def _frame_numbers(paths: tuple[Path, ...]) -> list[int]:
    return [int(re.fullmatch(r"img(\d+)\.jpg", p.name).group(1)) for p in paths]


def test_casme2_round_trip(tmp_path: Path) -> None:
    clips = _clips()
    out = write_casme2(tmp_path, clips, FPS)
    samples = read_casme2(out)
    assert [s.subject for s in samples] == ["sub01", "sub01", "sub02", "sub03"]
    folders = {p.name for p in (out / "CASME2-RAW").glob("sub*/*")}
    assert {s.clip for s in samples} == folders and "EP17_01" in folders
    labels = ["happiness", "disgust", "surprise", "repression"]
    aus = ["R12", "4+7", "1+2", "14"]
    for s, c, label, au in zip(samples, clips, labels, aus, strict=True):
        ev = c.events[0]
        assert s.dataset == "casme2" and s.video == s.clip and s.fps == FPS
        assert len(s.frames) == len(c.frames)
        numbers = _frame_numbers(s.frames)
        assert numbers == list(range(numbers[0], numbers[0] + len(c.frames)))
        assert s.first_frame_number == numbers[0] > 1
        assert all(p.parent == out / "CASME2-RAW" / s.subject / s.clip for p in s.frames)
        assert (s.onset, s.apex, s.offset) == (ev.onset, ev.apex, ev.offset)
        assert (s.label, s.aus, s.kind, s.notes) == (label, au, "micro", "")
    # The numeric order is not the lexicographic one in both crossing clips.
    for s in (samples[0], samples[3]):
        assert sorted(p.name for p in s.frames) != [p.name for p in s.frames]
    assert _frame_numbers(samples[0].frames)[:4] == [7, 8, 9, 10]
    assert 99 in _frame_numbers(samples[3].frames)
    # Any of the three roots, and the dispatcher, read the same.
    assert read_casme2(out / "CASME2-RAW") == samples == read_casme2(tmp_path)
    assert read_dataset("casme2", out, fps=100.0)[0].fps == 100.0


def test_casme2_apex_not_coded(tmp_path: Path) -> None:
    out = write_casme2(tmp_path, _clips(), FPS)
    row = excel_row(out / SHEET, "Filename", "EP23_01")
    set_cell(out / SHEET, row, "ApexFrame", "/")
    s = {s.clip: s for s in read_casme2(out)}["EP23_01"]
    assert s.apex is None and "apex not coded" in s.notes
    assert s.apex_or_middle() == (1 + 6) // 2


def test_casme2_bad_cell_names_file_and_row(tmp_path: Path) -> None:
    out = write_casme2(tmp_path, _clips(), FPS)
    row = excel_row(out / SHEET, "Filename", "EP17_01")
    set_cell(out / SHEET, row, "OnsetFrame", "abc")
    with pytest.raises(DatasetError, match=rf"^{SHEET} row {row}: OnsetFrame 'abc' is not "
                                           "a number$"):
        read_casme2(out)


def test_casme2_offset_before_onset(tmp_path: Path) -> None:
    out = write_casme2(tmp_path, _clips(), FPS)
    row = excel_row(out / SHEET, "Filename", "EP17_01")
    set_cell(out / SHEET, row, "OffsetFrame", 3)
    with pytest.raises(DatasetError, match=rf"{SHEET} row {row}: offset 3 is before onset"):
        read_casme2(out)


def test_casme2_missing_folder(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = write_casme2(tmp_path, _clips(), FPS)
    shutil.rmtree(out / "CASME2-RAW" / "sub02")
    row = excel_row(out / SHEET, "Subject", 2)
    with pytest.raises(DatasetError, match=rf"{SHEET} row {row}: sample folder .*sub02.* "
                                           "is missing"):
        read_casme2(out)
    with caplog.at_level(logging.WARNING):
        samples = read_casme2(out, missing="skip")
    assert [s.subject for s in samples] == ["sub01", "sub01", "sub03"]
    assert f"row {row}" in caplog.text


def test_casme2_legacy_xls(tmp_path: Path) -> None:
    out = write_casme2(tmp_path, _clips(), FPS)
    (out / SHEET).unlink()
    (out / "CASME2_label_Ver_2.xls").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"CASME2_label_Ver_2\.xls: .*save it as \.xlsx"):
        read_casme2(out)
    (out / "CASME2_label_Ver_2.xls").unlink()
    with pytest.raises(DatasetError, match="no coding sheet"):
        read_casme2(out)


def test_casme2_hand_made_variant(tmp_path: Path) -> None:
    """What the writers do not produce but real copies do: a preamble above the header,
    text numbers, ``.bmp`` frames and clutter, an offset past the last image."""
    from openpyxl import Workbook

    raw = tmp_path / "CASME2-RAW" / "sub05" / "EP01_2"
    raw.mkdir(parents=True)
    for n in range(8, 21):
        (raw / f"img{n}.bmp").write_bytes(b"")
    (raw / "Thumbs.db").write_bytes(b"")
    wb = Workbook()
    ws = wb.active
    ws.append(["CASME II coding (hand-made test copy)"])
    ws.append([])
    ws.append(["Subject", "Filename", "Unnamed", "OnsetFrame", "ApexFrame", "OffsetFrame",
               None, "Action Units", "Estimated Emotion"])
    ws.append(["05", "EP01_2", None, "9", 12.0, 22, None, "4+L10", "disgust "])
    wb.save(tmp_path / "CASME2-coding-20190701.xlsx")
    (s,) = read_casme2(tmp_path)
    assert [p.name for p in s.frames][:4] == ["img8.bmp", "img9.bmp", "img10.bmp", "img11.bmp"]
    assert (s.subject, s.first_frame_number, s.onset, s.apex, s.offset) == ("sub05", 8, 1, 4,
                                                                            12)
    assert "offset 22 has no image; moved to 20" in s.notes
    assert (s.label, s.aus) == ("disgust", "4+L10")
