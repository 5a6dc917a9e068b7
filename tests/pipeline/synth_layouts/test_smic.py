"""SMIC-HS layout (and SMIC-E sheet) read back as its loaders read it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.synth.layouts import write_smic_hs
from tests.pipeline.synth_layouts.fakes import clip, event, numbers, records, sheet_rows

FPS = 100.0


def test_smic_round_trip(tmp_path: Path) -> None:
    clips = [
        clip(1, 30, [event(2, 4, 7, FPS, label="positive"),
                     event(12, 15, 18, FPS, label="negative")], seed=1),
        clip(1, 20, [event(3, 5, 9, FPS, label="positive")], seed=2),
        clip(7, 15, [event(1, 3, 6, FPS, label="disgust", label_set="casme2")], seed=3),
        clip(9, 15, [event(0, 2, 14, FPS, label="surprise")], seed=4),
    ]
    out = write_smic_hs(tmp_path, clips, FPS)
    assert (out / "MESTREAM_SYNTHETIC.txt").exists()
    samples = sorted((out / "HS").glob("s*/micro/*/*"))
    found = {p.name: p for p in samples}
    # Subject 7 -> s8 and 9 -> s11: SMIC-HS ids have gaps.
    assert sorted(found) == ["s11_sur_01", "s1_ne_01", "s1_po_01", "s1_po_02", "s8_ne_01"]
    for name, p in found.items():
        m = re.fullmatch(r"s(\d{1,2})_(po|ne|sur)_(\d{2})", name)
        assert m and p.parent.parent.parent.name == f"s{m.group(1)}"
        assert p.parent.name == {"po": "positive", "ne": "negative", "sur": "surprise"}[
            m.group(2)]
    rows = sheet_rows(out / "SMIC-HS-E_annotation.xlsx")
    assert rows[0] == ["Subject", "Filename", "OnsetF", "OffsetF", "FirstF", "Emotion"]
    recs = records(rows, 0)
    assert len(recs) == 5
    assert any(isinstance(r[0], str) and r[0].startswith("Note") for r in rows[6:] if r)
    by_name = {r["Filename"]: r for r in recs}
    expected = [("s1_po_01", clips[0], 0), ("s1_ne_01", clips[0], 1),
                ("s1_po_02", clips[1], 0), ("s8_ne_01", clips[2], 0),
                ("s11_sur_01", clips[3], 0)]
    for name, c, k in expected:
        ev, rec = c.events[k], by_name[name]
        nums = numbers(found[name], r"image(\d{6})\.jpg")
        # No apex anywhere: the clip runs onset..offset exactly.
        assert nums == list(range(rec["OnsetF"], rec["OffsetF"] + 1))
        assert len(nums) == ev.offset - ev.onset + 1
        assert (rec["OnsetF"] - rec["FirstF"], rec["OffsetF"] - rec["FirstF"]) == (
            ev.onset, ev.offset)
        assert rec["Emotion"] == found[name].parent.name
    # Both events of one long clip share its FirstF.
    assert by_name["s1_po_01"]["FirstF"] == by_name["s1_ne_01"]["FirstF"]


def test_smic_rejects(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot express label 'others'"):
        write_smic_hs(tmp_path, [clip(1, 8, [event(1, 2, 3, FPS, label="others",
                                                   label_set="casme2")], 0)], FPS)
    with pytest.raises(ValueError, match="16 subjects"):
        write_smic_hs(tmp_path, [clip(17, 8, [event(1, 2, 3, FPS)], 0)], FPS)
    with pytest.raises(ValueError, match="micro-expressions only"):
        write_smic_hs(tmp_path, [clip(1, 8, [event(1, 2, 3, FPS, kind="macro")], 0)], FPS)
