"""Expression events of one face, planned from the seed in fixed chunks of frames.

A chunk's events depend only on ``(seed, face, chunk)``, so an endless scene plans lazily
and any frame can be rendered without planning what comes before it. Events lie wholly
inside their chunk and never overlap on one face; at least ``GAP_S`` of neutral face
separates them (and precedes the first), so every event has neutral frames around it.

Example:
    >>> from pipeline.synth.labels import LABEL_SETS
    >>> cfg = ExpressionPlan("megc3", 6.0, 0.7, (170, 500), (500, 4000), (1, 3), (4, 10))
    >>> evs = plan_expressions(cfg, 7, "s", 0, 0, 0, 1800, 30.0)
    >>> all(a.offset + 15 <= b.onset for a, b in zip(evs, evs[1:]))
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.synth.labels import label_set
from pipeline.synth.truth import ExpressionEvent

EXPRESSION_TAG = 0xE4E27
GAP_S = 0.5


@dataclass(frozen=True, slots=True)
class ExpressionPlan:
    """What to draw: label set, rate per minute, share of micro events, duration (ms) and
    apex displacement (px on a 128 px face) ranges."""

    label_set: str
    events_per_minute: float
    micro_fraction: float
    micro_ms: tuple[float, float]
    macro_ms: tuple[float, float]
    micro_px: tuple[float, float]
    macro_px: tuple[float, float]


def duration_frames(ms: float, fps: float, lo_ms: float, hi_ms: float) -> int:
    """Frames for ``ms``, kept so that frames * 1000 / fps stays within [lo_ms, hi_ms] when
    the frame rate allows (at least 3 frames: onset, apex, offset)."""
    lo = int(np.ceil(lo_ms * fps / 1000.0 - 1e-9))
    hi = int(np.floor(hi_ms * fps / 1000.0 + 1e-9))
    n = min(max(round(ms * fps / 1000.0), lo), max(hi, lo))
    return max(3, n)


def plan_expressions(plan: ExpressionPlan, seed: int, stream: str, face: int, chunk: int,
                     start: int, end: int, fps: float) -> list[ExpressionEvent]:
    """The expression events of ``face`` in frames [start, end) (chunk ``chunk``)."""
    classes = label_set(plan.label_set)
    names = sorted(classes)
    rng = np.random.default_rng([seed, EXPRESSION_TAG, face, chunk])
    events: list[ExpressionEvent] = []
    if plan.events_per_minute <= 0:
        return events
    gap = max(1, round(GAP_S * fps))
    t = float(start + gap)
    while True:
        t += rng.exponential(60.0 / plan.events_per_minute) * fps
        micro = bool(rng.random() < plan.micro_fraction)
        ms_range, px_range = (plan.micro_ms, plan.micro_px) if micro else (
            plan.macro_ms, plan.macro_px)
        n = duration_frames(rng.uniform(*ms_range), fps, *ms_range)
        onset = int(t)
        offset = onset + n - 1
        if offset + gap >= end:
            return events
        # The rise is the shorter part, as in the ME datasets (apex at 30-50 % of the event).
        apex = onset + min(n - 2, max(1, round(rng.uniform(0.3, 0.5) * (n - 1))))
        label = names[int(rng.integers(len(names)))]
        combos = classes[label]
        aus = combos[int(rng.integers(len(combos)))]
        events.append(ExpressionEvent(
            stream=stream, face=face, onset=onset, apex=apex, offset=offset, fps=fps,
            kind="micro" if micro else "macro", label=label, label_set=plan.label_set,
            aus=tuple(aus), intensity_px=round(float(rng.uniform(*px_range)), 3)))
        t = float(offset + 1 + gap)
