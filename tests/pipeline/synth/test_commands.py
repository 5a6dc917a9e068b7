"""`mestream synth video | dataset | preview` from the command line, read back the way a
user (or the dataset readers) would."""

from __future__ import annotations

import csv
import json
import subprocess

import cv2
import pytest

from tests.conftest import REPO, mestream
from train.datasets import read_dataset


def run(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(mestream("synth", *args), cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def test_synth_video_writes_a_clip_and_its_ground_truth(tmp_path) -> None:
    out = tmp_path / "x.mp4"
    run("video", "--seconds", "6", "--fps", "30", "--width", "320", "--height", "240",
        "--events-per-minute", "60", "--seed", "3", "--out", str(out))
    cap = cv2.VideoCapture(str(out))
    frames = 0
    while cap.read()[0]:
        frames += 1
    assert frames == 180
    truth = json.loads(out.with_suffix(".json").read_text())
    assert truth["frames"] == 180 and truth["fps"] == 30.0 and "synthetic" in truth["note"]
    rows = list(csv.DictReader(out.with_suffix(".csv").open()))
    assert len(rows) == len(truth["events"]) >= 1
    for row in rows:
        assert 0 <= int(row["onset_frame"]) <= int(row["apex_frame"]) \
            <= int(row["offset_frame"]) < 180
        assert row["kind"] in ("micro", "macro") and row["label"]


@pytest.mark.parametrize(("layout", "reader", "label_set_size"), [
    ("casme2", "casme2", 5), ("smic", "smic_hs", 3), ("samm", "samm", 3),
    ("casme_sq", "casme_sq", None), ("samm_lv", "samm_lv", None)])
def test_synth_dataset_is_read_back_by_its_reader(tmp_path, layout, reader,
                                                  label_set_size) -> None:
    run("dataset", "--layout", layout, "--out", str(tmp_path), "--clips-per-subject", "5",
        "--width", "160", "--height", "120", "--seconds", "3", "--fps", "50")
    samples = read_dataset(reader, tmp_path, fps=50.0)
    assert samples, f"{layout}: nothing read back"
    assert len({s.subject for s in samples}) == 2      # the two bundled faces
    for s in samples:
        assert 0 <= s.onset <= s.offset < len(s.frames)
    if label_set_size is not None:  # short clips: 5 per subject, classes dealt in turn
        assert len(samples) == 10
        assert len({s.label for s in samples}) == label_set_size


def test_synth_preview_draws_one_row_per_event(tmp_path) -> None:
    out = tmp_path / "p.png"
    proc = run("preview", "--seconds", "20", "--events-per-minute", "12", "--width", "320",
               "--height", "240", "--max-events", "3", "--out", str(out))
    image = cv2.imread(str(out))
    assert image is not None
    n = int(proc.stdout.split(": ", 1)[1].split()[0])
    assert n >= 1 and image.shape[0] == n * (160 + 22)   # a caption and a row of crops


def test_dataset_generation_reports_the_frames_it_renders(tmp_path) -> None:
    """Progress counts the frames as the writer renders them (the slow part; before it
    counted the clips planned, all done before the first frame was drawn)."""
    from pipeline.synth.dataset import make_dataset

    seen: list[tuple[int, int]] = []
    make_dataset("smic", tmp_path, clips_per_subject=1, width=96, height=72, fps=25.0,
                 progress=lambda done, total: seen.append((done, total)))
    total = seen[0][1]
    assert seen[0] == (0, total) and seen[-1] == (total, total) and total > 20
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert len(seen) > 5  # reported along the way, not only at the ends
