"""SAMM reader on synthetic SAMM written by pipeline.synth.layouts."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from pipeline.synth.layouts import write_samm
from tests.pipeline.synth_layouts.fakes import clip, event
from tests.train.datasets.sheets import excel_row, set_cell
from train.datasets import DatasetError, read_dataset, read_samm

FPS = 200.0
SHEET = "SAMM_Micro_FACS_Codes_v2.xlsx"


def _clips() -> list:
    return [
        clip(1, 14, [event(3, 5, 8, FPS, label="positive", aus=("AU6", "AU12"))], seed=1),
        clip(1, 12, [event(2, 4, 7, FPS, label="negative", aus=("AU4", "AU7"))], seed=2),
        clip(1, 12, [event(2, 3, 5, FPS, label="others", label_set="casme2",
                           aus=("AUR14",))], seed=3),
        clip(3, 13, [event(1, 2, 6, FPS, label="angry", label_set="casme_sq3",
                           aus=("AU4",))], seed=4),
    ]


def test_samm_round_trip(tmp_path: Path) -> None:
    clips = _clips()
    out = write_samm(tmp_path, clips, FPS)
    samples = read_samm(out)
    assert [(s.subject, s.clip) for s in samples] == [
        ("006", "006_1_1"), ("006", "006_1_2"), ("006", "006_2_1"), ("008", "008_1_1")]
    labels = ["Happiness", "Anger", "Other", "Anger"]
    aus = ["6+12", "4+7", "R14", "4"]
    for s, c, label, au in zip(samples, clips, labels, aus, strict=True):
        ev = c.events[0]
        assert len(s.frames) == len(c.frames)
        numbers = [int(re.fullmatch(rf"{s.subject}_(\d{{5}})\.jpg", p.name).group(1))
                   for p in s.frames]
        assert numbers == list(range(s.first_frame_number, s.first_frame_number + len(c.frames)))
        assert all(p.parent == out / s.subject / s.clip for p in s.frames)
        assert (s.onset, s.apex, s.offset) == (ev.onset, ev.apex, ev.offset)
        assert (s.label, s.aus, s.kind, s.fps, s.notes) == (label, au, "micro", FPS, "")
    assert read_samm(tmp_path) == samples == read_dataset("samm", out)


def test_samm_subject_as_number_and_missing_apex(tmp_path: Path) -> None:
    out = write_samm(tmp_path, _clips(), FPS)
    row = excel_row(out / SHEET, "Filename", "008_1_1")
    set_cell(out / SHEET, row, "Subject", 8)            # a number, not the text "008"
    set_cell(out / SHEET, row, "Apex Frame", None)
    set_cell(out / SHEET, row, "Notes", "apex unclear")
    s = read_samm(out)[-1]
    assert (s.subject, s.apex, s.apex_or_middle()) == ("008", None, (1 + 6) // 2)
    assert s.notes == "apex not coded in the sheet; sheet note: apex unclear"


def test_samm_bad_cell_names_file_and_row(tmp_path: Path) -> None:
    out = write_samm(tmp_path, _clips(), FPS)
    row = excel_row(out / SHEET, "Filename", "006_2_1")
    assert row > 14                                      # under the 13-row preamble
    set_cell(out / SHEET, row, "Onset Frame", "abc")
    with pytest.raises(DatasetError, match=rf"^{SHEET} row {row}: Onset Frame 'abc' is not "
                                           "a number$"):
        read_samm(out)
    set_cell(out / SHEET, row, "Onset Frame", 10)
    set_cell(out / SHEET, row, "Type", "Nano")
    with pytest.raises(DatasetError, match=rf"{SHEET} row {row}: Type 'Nano'"):
        read_samm(out)


def test_samm_missing_folder_and_header(tmp_path: Path) -> None:
    out = write_samm(tmp_path, _clips(), FPS)
    shutil.rmtree(out / "006" / "006_1_2")
    row = excel_row(out / SHEET, "Filename", "006_1_2")
    with pytest.raises(DatasetError, match=rf"{SHEET} row {row}: sample folder .*006_1_2 is "
                                           "missing"):
        read_samm(out)
    assert [s.clip for s in read_samm(out, missing="skip")] == ["006_1_1", "006_2_1",
                                                                "008_1_1"]
    header = excel_row(out / SHEET, "Filename", "006_1_1") - 1
    set_cell(out / SHEET, header, 1, "File")                    # the header cell itself
    with pytest.raises(DatasetError, match=f"{SHEET}: no header row"):
        read_samm(out)
