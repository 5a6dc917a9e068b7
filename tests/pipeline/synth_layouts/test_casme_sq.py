"""CAS(ME)^2 layout read back as its loaders read it (header-less sheets)."""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.synth.layouts import write_casme_sq
from tests.pipeline.synth_layouts.fakes import clip, event, numbers, sheet_rows

FPS = 30.0
COLUMNS = ["subject", "video", "onset", "apex", "offset", "au", "emotion", "type", "selfReport"]


def _clips() -> list:
    mac = {"kind": "macro", "label_set": "casme_sq3"}
    return [
        clip(1, 120, [event(5, 9, 14, FPS, label="negative", aus=("AU4", "AU7")),
                      event(30, 40, 60, FPS, label="happy", aus=("AU6", "AU12"), **mac),
                      event(70, 80, 95, FPS, label="disgust", aus=("AU9",), **mac)], seed=1),
        clip(1, 105, [event(10, 20, 40, FPS, label="angry", aus=("AU4",), **mac)], seed=2,
             name="anger1"),
        clip(2, 90, [event(50, 52, 56, FPS, label="surprise", aus=("AU1", "AU2")),
                     event(60, 70, 80, FPS, label="happy", aus=("AUR12",), **mac)], seed=3),
    ]


def _read(out: Path) -> tuple[list[dict], dict[int, str], dict[str, str]]:
    xlsx = out / "CAS(ME)^2code_final.xlsx"
    rows = [dict(zip(COLUMNS, r, strict=True)) for r in sheet_rows(xlsx, "CASFEcode_final")]
    folders = {int(r[2]): str(r[1]) for r in sheet_rows(xlsx, "naming rule1")}
    codes = {str(r[1]): f"{int(r[0]):04d}" for r in sheet_rows(xlsx, "naming rule2")}
    return rows, folders, codes


def test_casme_sq_round_trip(tmp_path: Path) -> None:
    clips = _clips()
    out = write_casme_sq(tmp_path, clips, FPS)
    assert out == tmp_path / "CASME_sq"
    rows, folders, codes = _read(out)
    assert folders[1] == "s15" and folders[2] == "s16" and codes["anger1"] == "0401"
    assert rows[0]["subject"] == 1 and rows[0]["video"] == "disgust1_1"   # no header row
    seen_uncoded = 0
    for row in rows:
        video_name, n = re.fullmatch(r"([a-z]+\d)_(\d+)", row["video"]).groups()
        folder = folders[row["subject"]]
        (vdir,) = (out / "rawpic" / folder).glob(f"*_{codes[video_name]}*")
        assert re.fullmatch(rf"{folder[1:]}_{codes[video_name]}[a-z]+", vdir.name)
        nums = numbers(vdir, r"img(\d{3,})\.jpg")
        c = next(c for c in clips if c.subject == row["subject"] and len(c.frames) == len(nums))
        assert nums == list(range(1, len(c.frames) + 1))
        assert (vdir / "img001.jpg").exists()
        ev = sorted(c.events, key=lambda e: e.onset)[int(n) - 1]
        assert (row["onset"], row["apex"]) == (ev.onset + 1, ev.apex + 1)
        if row["offset"] == 0:                  # quirk: not coded, reader falls back to apex
            assert row["type"] == "macro-expression"
            seen_uncoded += 1
        else:
            assert row["offset"] == ev.offset + 1
        assert row["type"] == f"{ev.kind}-expression"
        assert row["au"] == "+".join(a.removeprefix("AU") for a in ev.aus)
        assert row["emotion"] == {"negative": "negative", "surprise": "surprise", "happy":
                                  "positive", "angry": "negative", "disgust": "negative"}[ev.label]
    assert len(rows) == 6 and seen_uncoded == 1         # 3rd macro row of 4


def test_casme_sq_without_quirks(tmp_path: Path) -> None:
    clips = _clips()
    rows, _, _ = _read(write_casme_sq(tmp_path, clips, FPS, quirks=False))
    assert all(r["offset"] > 0 for r in rows)
