"""The demo's annotated video: each frame shows the spot score of that frame (found by
the pts the score describes, not the frame it arrived with), on a gauge scaled to the
spotter's threshold, red above it."""

from __future__ import annotations

import numpy as np

from mestream.demo import GAUGE_HOLD_NS, RED, YELLOW, draw_gauge, score_at

MS = 1_000_000


def test_a_frame_shows_the_score_that_describes_it() -> None:
    scores = [(0, 0.1), (40 * MS, 0.2), (80 * MS, 0.9)]
    pts = [p for p, _ in scores]
    assert score_at(scores, pts, 40 * MS) == 0.2
    assert score_at(scores, pts, 60 * MS) == 0.2      # between ticks: the last one
    assert score_at(scores, pts, 80 * MS + GAUGE_HOLD_NS + 1) is None  # none that recent
    assert score_at(scores, pts, -1) is None


def _bar(frame: np.ndarray) -> np.ndarray:
    return frame[21:100, 10:19].reshape(-1, 3)


def test_the_gauge_fills_to_the_score_and_turns_red_at_the_threshold() -> None:
    low, high = np.zeros((240, 320, 3), np.uint8), np.zeros((240, 320, 3), np.uint8)
    draw_gauge(low, 0.35, 1.05, 0.7)
    draw_gauge(high, 0.93, 1.05, 0.7)
    filled_low = (np.abs(_bar(low) - YELLOW).max(axis=1) == 0).mean()
    filled_high = (np.abs(_bar(high) - RED).max(axis=1) == 0).mean()
    assert 0.25 < filled_low < 0.45       # a third of the way, yellow
    assert 0.8 < filled_high < 0.95       # above the threshold: red
