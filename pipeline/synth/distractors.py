"""Movements a spotter must NOT report, planned from the seed and recorded as distractors.

- ``blink``: 100-400 ms, the upper lids come down onto the lower lids and go back;
- ``head_translation`` / ``head_rotation``: the face layer shifts (canonical px) or turns
  in-plane (degrees) and comes back within 0.3-1.5 s; ``head_drift``: a slow shift over
  3-8 s;
- ``speech``: jaw/lips open and close at 3-6 Hz (still bases only: a video already talks);
- ``illumination``: a smooth global gain change (relative, signed) and back.

Sensor noise and JPEG re-encoding are per frame (see :mod:`pipeline.synth.noise`).

Example:
    >>> import numpy as np
    >>> plan = plan_distractors(DistractorSpec(), np.random.default_rng(0), "s", 0, 0, 1800,
    ...                         30.0, still=True)
    >>> "blink" in {p.event.kind for p in plan}
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pipeline.synth.envelope import bump, envelope
from pipeline.synth.truth import DistractorEvent


@dataclass(frozen=True, slots=True)
class DistractorSpec:
    """Rates are events per minute per face; 0 turns a kind off."""

    blinks_per_minute: float = 12.0
    blink_ms: tuple[float, float] = (100.0, 400.0)
    head_per_minute: float = 2.0
    head_shift_px: tuple[float, float] = (2.0, 8.0)      # canonical px (128 px face)
    head_rotation_deg: tuple[float, float] = (1.0, 5.0)
    head_drift_px: tuple[float, float] = (4.0, 12.0)
    illumination_per_minute: float = 1.0
    illumination_change: tuple[float, float] = (0.05, 0.2)
    speech_per_minute: float = 3.0
    speech_ms: tuple[float, float] = (800.0, 3000.0)
    speech_px: tuple[float, float] = (2.0, 5.0)           # jaw opening, canonical px
    noise_sigma: float = 2.0                              # grey levels, per frame
    jpeg_quality: int | None = None                       # re-encode every frame if set


@dataclass(frozen=True, slots=True)
class PlannedDistractor:
    """A distractor in the ground truth plus what the renderer needs beyond it: a signed
    ``value`` (shift px, degrees, relative gain, opening px), a ``direction`` (radians, for
    shifts) and a frequency (speech)."""

    event: DistractorEvent
    value: float
    direction: float = 0.0
    freq_hz: float = 0.0


def _frames(ms: float, fps: float) -> int:
    return max(2, round(ms * fps / 1000.0))


def _plan_kind(rng: np.random.Generator, rate: float, start: int, end: int, fps: float,
               duration_ms: tuple[float, float]) -> list[tuple[int, int]]:
    """Non-overlapping (start, end) frame spans of one kind in [start, end): Poisson arrivals
    at ``rate`` per minute; spans that would cross ``end`` are dropped."""
    spans: list[tuple[int, int]] = []
    if rate <= 0:
        return spans
    t = float(start)
    while True:
        t += rng.exponential(60.0 / rate) * fps
        n = _frames(rng.uniform(*duration_ms), fps)
        s = int(t)
        if s + n >= end:
            return spans
        spans.append((s, s + n - 1))
        t = s + n


def plan_distractors(spec: DistractorSpec, rng: np.random.Generator, stream: str, face: int,
                     start: int, end: int, fps: float, still: bool) -> list[PlannedDistractor]:
    """Every distractor of one face in frames [start, end), sorted by start."""
    out: list[PlannedDistractor] = []

    def add(kind: str, span: tuple[int, int], value: float, magnitude: float,
            direction: float = 0.0, freq: float = 0.0) -> None:
        ev = DistractorEvent(stream, face, kind, span[0], span[1], fps, round(magnitude, 3))
        out.append(PlannedDistractor(ev, value, direction, freq))

    for span in _plan_kind(rng, spec.blinks_per_minute, start, end, fps, spec.blink_ms):
        add("blink", span, 0.95, 0.95)
    for span in _plan_kind(rng, spec.head_per_minute, start, end, fps, (300.0, 1500.0)):
        kind = ("head_translation", "head_rotation", "head_drift")[int(rng.integers(3))]
        sign = 1.0 if rng.random() < 0.5 else -1.0
        if kind == "head_translation":
            v = rng.uniform(*spec.head_shift_px)
            add(kind, span, v, v, direction=rng.uniform(0, 2 * math.pi))
        elif kind == "head_rotation":
            v = sign * rng.uniform(*spec.head_rotation_deg)
            add(kind, span, v, abs(v))
        else:
            n = _frames(rng.uniform(3000.0, 8000.0), fps)
            if span[0] + n < end:
                v = rng.uniform(*spec.head_drift_px)
                add(kind, (span[0], span[0] + n - 1), v, v, direction=rng.uniform(0, 2 * math.pi))
    for span in _plan_kind(rng, spec.illumination_per_minute, start, end, fps, (500.0, 3000.0)):
        v = (1.0 if rng.random() < 0.5 else -1.0) * rng.uniform(*spec.illumination_change)
        add("illumination", span, v, v)
    if still:
        for span in _plan_kind(rng, spec.speech_per_minute, start, end, fps, spec.speech_ms):
            v = rng.uniform(*spec.speech_px)
            add("speech", span, v, v, freq=rng.uniform(3.0, 6.0))
    out.sort(key=lambda p: (p.event.start, p.event.kind))
    return out


@dataclass(slots=True)
class DistractorState:
    """What the distractors do to one face in one frame."""

    blink: float = 0.0          # eyelid closure 0..1
    speech_px: float = 0.0      # jaw opening, canonical px
    shift: tuple[float, float] = (0.0, 0.0)   # canonical px
    angle_deg: float = 0.0
    gain: float = 1.0


def distractor_state(plan: list[PlannedDistractor], i: int) -> DistractorState:
    """Sum of the active distractors' effects at frame ``i``."""
    st = DistractorState()
    sx = sy = 0.0
    for p in plan:
        ev = p.event
        if i < ev.start or i > ev.end:
            continue
        if ev.kind == "blink":
            # Closing is quicker than opening: the lid is down at ~40 % of the blink.
            apex = ev.start + max(1, round(0.4 * (ev.end - ev.start)))
            st.blink = max(st.blink, p.value * envelope(i, ev.start, apex, ev.end))
        elif ev.kind == "speech":
            t = (i - ev.start) / ev.fps
            st.speech_px += p.value * bump(i, ev.start, ev.end) ** 0.25 * 0.5 * (
                1.0 - math.cos(2.0 * math.pi * p.freq_hz * t))
        elif ev.kind in ("head_translation", "head_drift"):
            b = bump(i, ev.start, ev.end)
            sx += p.value * b * math.cos(p.direction)
            sy += p.value * b * math.sin(p.direction)
        elif ev.kind == "head_rotation":
            st.angle_deg += p.value * bump(i, ev.start, ev.end)
        elif ev.kind == "illumination":
            st.gain *= 1.0 + p.value * bump(i, ev.start, ev.end)
    st.shift = (sx, sy)
    return st
