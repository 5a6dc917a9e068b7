"""A spotted expression interval, and the post-processing of lists of them.

Times are pts in ns; ``offset_ns`` is the pts of the last frame of the movement (inclusive,
as the ME datasets code offsets).

>>> a = SpottedInterval(0, 100_000_000, 200_000_000, 1.0, "micro", "flow")
>>> b = SpottedInterval(150_000_000, 250_000_000, 400_000_000, 2.0, "micro", "flow")
>>> a.duration_ms, [i.score for i in merge_intervals([a, b], gap_ms=0)]
(200.0, [2.0])
>>> [i.kind for i in limit_lengths([a], LengthLimits(min_ms=40, max_ms=150))]
['macro']
"""

from __future__ import annotations

from dataclasses import dataclass, replace

MICRO = "micro"
MACRO = "macro"


@dataclass(frozen=True, slots=True)
class SpottedInterval:
    """One spotted movement of one face."""

    onset_ns: int
    apex_ns: int
    offset_ns: int
    score: float
    """The spotter's score at the apex (its own units; higher = more confident)."""
    kind: str
    """``"micro"`` or ``"macro"``."""
    spotter: str
    """Name of the spotter that found it."""

    @property
    def duration_ms(self) -> float:
        return (self.offset_ns - self.onset_ns) / 1e6

    def iou(self, onset_ns: int, offset_ns: int) -> float:
        """Temporal intersection over union with [onset_ns, offset_ns]."""
        return interval_iou(self.onset_ns, self.offset_ns, onset_ns, offset_ns)


def interval_iou(a0: int, a1: int, b0: int, b1: int) -> float:
    """IoU of two closed time intervals (0 when either is empty or they are disjoint)."""
    inter = min(a1, b1) - max(a0, b0)
    union = max(a1, b1) - min(a0, b0)
    if inter <= 0 or union <= 0:
        return 0.0
    return inter / union


@dataclass(frozen=True, slots=True)
class LengthLimits:
    """How long a micro-expression may be. Defaults: at least one frame at 25 fps (40 ms)
    and at most 500 ms (the field's rule of thumb, field.md 2.1). Longer intervals become
    ``"macro"`` unless ``drop_long``; shorter ones are dropped (a single noisy frame)."""

    min_ms: float = 40.0
    max_ms: float = 500.0
    drop_long: bool = False


def merge_intervals(intervals: list[SpottedInterval], gap_ms: float) -> list[SpottedInterval]:
    """Join intervals that overlap or lie within ``gap_ms`` of each other; the merged one
    keeps the apex and score of its best part."""
    out: list[SpottedInterval] = []
    for iv in sorted(intervals, key=lambda i: i.onset_ns):
        if out and iv.onset_ns - out[-1].offset_ns <= gap_ms * 1e6:
            last = out[-1]
            best = iv if iv.score > last.score else last
            out[-1] = replace(
                best, onset_ns=last.onset_ns, offset_ns=max(last.offset_ns, iv.offset_ns)
            )
        else:
            out.append(iv)
    return out


def non_maximum_suppression(
    intervals: list[SpottedInterval], max_iou: float = 0.3
) -> list[SpottedInterval]:
    """Keep the best-scoring intervals, dropping any that overlap a kept one by more than
    ``max_iou``; the result is sorted by onset."""
    kept: list[SpottedInterval] = []
    for iv in sorted(intervals, key=lambda i: i.score, reverse=True):
        if all(iv.iou(k.onset_ns, k.offset_ns) <= max_iou for k in kept):
            kept.append(iv)
    return sorted(kept, key=lambda i: i.onset_ns)


def limit_lengths(intervals: list[SpottedInterval], limits: LengthLimits) -> list[SpottedInterval]:
    """Label each interval micro or macro by its duration (see :class:`LengthLimits`)."""
    out = []
    for iv in intervals:
        ms = iv.duration_ms
        if ms < limits.min_ms:
            continue
        if ms > limits.max_ms:
            if not limits.drop_long:
                out.append(replace(iv, kind=MACRO))
            continue
        out.append(replace(iv, kind=MICRO))
    return out
