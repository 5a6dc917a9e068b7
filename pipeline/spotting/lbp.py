"""The MEGC LBP chi-square feature-difference spotter (Moilanen et al. 2014; Li et al.
2018, field.md 2.3), online.

Per frame t: uniform LBP (P=8, R=3, bilinear, :mod:`pipeline.spotting.lbp_features`)
histograms of the ``block_grid`` x ``block_grid`` blocks of the aligned gray face;

- feature difference F(t): chi-square distance per block between frame t and the mean of
  the frames ``k`` before and after it (k = half of ``me_ms``, found by pts, so it is
  the same time at any frame rate), mean of the ``top_fraction`` largest blocks;
- contrast C(t) = F(t) - (F(t - k) + F(t + k)) / 2, negatives set to 0;
- threshold T = mean(C) + p (max(C) - mean(C)) over the last ``history_ms`` of C (the
  baseline takes it over the whole video; online only the past and k ahead are known);
- a frame with C >= T that is the largest within k either side is a peak, and
  [peak - k, peak + k] is the spotted interval (apex = peak).

F(t) needs the frame t + k, C(t) the frame t + 2k, and a peak is final once C is known
k later: an interval is emitted 3k after its apex, 2k after its offset.

>>> import numpy as np
>>> spotter = LBPChiSquareSpotter()
>>> face = np.random.default_rng(0).integers(0, 255, (128, 128), dtype=np.uint8)
>>> out = [spotter.push(FaceFrame(i * 33_333_333, face)) for i in range(40)]
>>> sum(out, []) + spotter.flush()
[]
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from pipeline.spotting.face_frame import FaceFrame
from pipeline.spotting.interval import MICRO, SpottedInterval
from pipeline.spotting.lbp_features import block_histograms, chi_square, uniform_lbp
from pipeline.spotting.spotter import ScoredSpotter


@dataclass(slots=True)
class _Frame:
    pts_ns: int
    hist: np.ndarray
    f: float | None = None
    c: float | None = None


class LBPChiSquareSpotter(ScoredSpotter):
    """Online LBP chi-square baseline of one face (see the module doc)."""

    name = "lbp"

    def __init__(
        self,
        block_grid: int = 6,
        lbp_points: int = 8,
        lbp_radius: float = 3.0,
        top_fraction: float = 1 / 3,
        me_ms: float = 300.0,
        threshold_p: float = 0.3,   # not tuned: the baseline is far behind either way
        history_ms: float = 20_000.0,
        min_contrast: float = 1e-3,
    ):
        self.block_grid = block_grid
        self.lbp_points = lbp_points
        self.lbp_radius = lbp_radius
        self.top_fraction = top_fraction
        self.me_ms = me_ms
        self.threshold_p = threshold_p
        self.history_ms = history_ms
        self.min_contrast = min_contrast
        """A floor on T: on a perfectly still face C is all noise and T would be tiny."""
        self._frames: deque[_Frame] = deque()
        self._checked_ns = -(1 << 62)
        self._history: deque[tuple[int, float]] = deque()

    @property
    def k_ms(self) -> float:
        return self.me_ms / 2.0

    @property
    def latency_ms(self) -> float:
        # Emitted once C is known k after the apex, i.e. at apex + 3k = offset + 2k; plus
        # one frame of slack for the nearest-frame lookups.
        return 2.0 * self.k_ms + 50.0

    def push(self, frame: FaceFrame) -> list[SpottedInterval]:
        codes = uniform_lbp(frame.gray, self.lbp_points, self.lbp_radius)
        hist = block_histograms(codes, self.block_grid, self.lbp_points + 2)
        self._frames.append(_Frame(frame.pts_ns, hist))
        self._update(final=False)
        out = self._decide(final=False)
        self._trim()
        return out

    def flush(self) -> list[SpottedInterval]:
        out = self._decide(final=True)
        self._frames.clear()
        return out

    def _near(self, pts_ns: float) -> _Frame | None:
        """The kept frame nearest to ``pts_ns`` (None if it lies outside the kept span)."""
        if not self._frames or pts_ns < self._frames[0].pts_ns - 1 or (
            pts_ns > self._frames[-1].pts_ns + 1
        ):
            return None
        return min(self._frames, key=lambda f: abs(f.pts_ns - pts_ns))

    def _update(self, final: bool) -> None:
        k = self.k_ms * 1e6
        last = self._frames[-1].pts_ns
        top = max(1, round(self.top_fraction * self.block_grid**2))
        for f in self._frames:
            if f.f is None and f.pts_ns + k <= last:
                tail, head = self._near(f.pts_ns - k), self._near(f.pts_ns + k)
                if tail is not None and head is not None:
                    d = chi_square(f.hist, (tail.hist + head.hist) / 2)
                    f.f = float(np.sort(d)[-top:].mean())
        for f in self._frames:
            if f.c is None and f.f is not None and f.pts_ns + 2 * k <= last:
                tail, head = self._near(f.pts_ns - k), self._near(f.pts_ns + k)
                if tail is not None and head is not None and tail.f is not None and (
                    head.f is not None
                ):
                    f.c = max(0.0, f.f - (tail.f + head.f) / 2)
                    self._history.append((f.pts_ns, f.c))

    def _decide(self, final: bool) -> list[SpottedInterval]:
        k = self.k_ms * 1e6
        scored = [f for f in self._frames if f.c is not None]
        if not scored:
            return []
        values = np.array([c for _, c in self._history])
        threshold = max(
            float(values.mean() + self.threshold_p * (values.max() - values.mean())),
            self.min_contrast,
        )
        out = []
        for f in scored:
            if f.pts_ns <= self._checked_ns:
                continue
            if not final and scored[-1].pts_ns - f.pts_ns < k:
                break
            self._checked_ns = f.pts_ns
            if f.c < threshold:
                continue
            if f.c < max(g.c for g in scored if abs(g.pts_ns - f.pts_ns) <= k):
                continue
            out.append(SpottedInterval(int(f.pts_ns - k), f.pts_ns, int(f.pts_ns + k), f.c,
                                       MICRO, self.name))
        return out

    def _trim(self) -> None:
        now = self._frames[-1].pts_ns
        keep = 5 * self.k_ms * 1e6
        while self._frames and now - self._frames[0].pts_ns > keep:
            self._frames.popleft()
        self._forget_scores_before(now, self.history_ms)
