"""MEGC scoring on hand-made intervals, and the timeline picture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.spotting.evaluate import (
    evaluate_spotting,
    frame_span_ns,
    match_spotting,
    pooled,
    timeline_png,
)
from pipeline.spotting.interval import (
    LengthLimits,
    SpottedInterval,
    limit_lengths,
    merge_intervals,
    non_maximum_suppression,
)

MS = 1_000_000


def iv(on_ms: float, off_ms: float, score: float = 1.0) -> SpottedInterval:
    return SpottedInterval(int(on_ms * MS), int((on_ms + off_ms) / 2 * MS), int(off_ms * MS),
                           score, "micro", "test")


def test_tp_fp_fn_f1_and_false_alarm_rate() -> None:
    gt = [(1000 * MS, 1300 * MS), (5000 * MS, 5400 * MS), (9000 * MS, 9200 * MS)]
    pred = [
        iv(1050, 1350),   # IoU 250/350 = 0.71: TP
        iv(5300, 5700),   # IoU 100/700: FP (and GT 2 missed)
        iv(9000, 9200),   # exact: TP
        iv(9010, 9190),   # a second hit on GT 3: FP, each GT matches once
        iv(20000, 20300), # nowhere: FP
    ]
    s = evaluate_spotting(gt, pred, video_ms=120_000)
    assert (s.tp, s.fp, s.fn) == (2, 3, 1)
    assert s.precision == pytest.approx(2 / 5) and s.recall == pytest.approx(2 / 3)
    assert s.f1 == pytest.approx(2 * 0.4 * (2 / 3) / (0.4 + 2 / 3))
    assert s.false_alarms_per_minute == pytest.approx(1.5)


def test_iou_threshold_is_inclusive_and_matching_greedy_by_iou() -> None:
    gt = [(0, 200 * MS)]
    assert evaluate_spotting(gt, [iv(0, 100)], 60_000).tp == 1     # IoU exactly 0.5
    assert evaluate_spotting(gt, [iv(0, 99)], 60_000).tp == 0
    # Two GT, two predictions: the best pairs win, whatever the order.
    gt2 = [(0, 300 * MS), (200 * MS, 500 * MS)]
    s = evaluate_spotting(gt2, [iv(190, 500), iv(0, 290)], 60_000)
    assert (s.tp, s.fp, s.fn) == (2, 0, 0) and s.f1 == 1.0
    # Which GT each prediction found (the per-event recall tables read this).
    assert match_spotting(gt2, [iv(190, 500), iv(0, 290)]) == {0: 1, 1: 0}
    assert match_spotting(gt2, [iv(1000, 1200)]) == {}


def test_empty_cases_and_pooling() -> None:
    none = evaluate_spotting([], [], 60_000)
    assert none.f1 == 1.0 and none.false_alarms_per_minute == 0.0
    fa = evaluate_spotting([], [iv(0, 300)], 30_000)
    assert fa.fp == 1 and fa.false_alarms_per_minute == pytest.approx(2.0)
    total = pooled([(none, 60_000), (fa, 30_000)])
    assert total.fp == 1 and total.false_alarms_per_minute == pytest.approx(1 / 1.5)
    assert frame_span_ns(30, 39, 30.0) == (1_000_000_000, 1_333_333_333)


def test_interval_post_processing() -> None:
    a, b, c = iv(0, 200, 1.0), iv(250, 400, 3.0), iv(1000, 1900, 2.0)
    merged = merge_intervals([c, a, b], gap_ms=60)
    assert [(m.onset_ns // MS, m.offset_ns // MS, m.score) for m in merged] == [
        (0, 400, 3.0), (1000, 1900, 2.0)]
    assert merged[0].apex_ns == b.apex_ns
    kept = non_maximum_suppression([a, iv(20, 210, 2.0), c], max_iou=0.3)
    assert [k.score for k in kept] == [2.0, 2.0]
    kinds = limit_lengths([iv(0, 20), a, c], LengthLimits())
    assert [k.kind for k in kinds] == ["micro", "macro"]
    assert limit_lengths([c], LengthLimits(drop_long=True)) == []


def test_timeline_png_writes_a_png(tmp_path: Path) -> None:
    scores = [(i * 33 * MS, float(i % 7)) for i in range(300)]
    out = timeline_png(scores, [(1000 * MS, 1300 * MS)], [iv(1050, 1350), iv(5000, 5900)],
                       tmp_path / "sub" / "t.png", title="test")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def _has_colour(png: Path, rgb: tuple[int, int, int], tolerance: int = 12) -> bool:
    import matplotlib.image as mpimg

    image = (mpimg.imread(str(png))[..., :3] * 255).astype(int)
    return bool((np.abs(image - np.array(rgb)).max(axis=-1) <= tolerance).any())


BLUE, ORANGE, GREY, RED = (31, 119, 180), (255, 127, 14), (140, 140, 140), (214, 39, 40)


def test_the_timeline_draws_the_score_its_threshold_and_both_kinds_of_detection(
        tmp_path: Path) -> None:
    scores = [(i * 40 * MS, 0.9 if 25 <= i <= 33 else 0.05) for i in range(250)]
    detections = [iv(1050, 1350), SpottedInterval(6000 * MS, 6200 * MS, 7000 * MS, 0.9,
                                                  "macro", "t")]
    with_curve = timeline_png(scores, [(1000 * MS, 1300 * MS)], detections,
                              tmp_path / "a.png", threshold=0.7, duration_s=10.0)
    assert all(_has_colour(with_curve, c) for c in (BLUE, ORANGE, GREY, RED))
    # Without per-frame scores: no curve, and the plot says why (not an empty 1.0 axis).
    events_only = timeline_png([], [(1000 * MS, 1300 * MS)], detections, tmp_path / "b.png",
                               duration_s=10.0)
    assert not _has_colour(events_only, BLUE, tolerance=4)
    assert _has_colour(events_only, GREY) and _has_colour(events_only, RED)
