"""The 1 euro filter: low jitter when still, little lag when moving.

Casiez, Roussel, Vogel, "1 euro filter: a simple speed-based low-pass filter for noisy input
in interactive systems", CHI 2012. An exponential low-pass whose cutoff rises with the
(smoothed) speed of the signal: ``cutoff = min_cutoff_hz + beta * |speed|``. Still input is
filtered hard (``min_cutoff_hz``), fast motion passes almost unfiltered.

>>> import numpy as np
>>> f = OneEuroFilter(min_cutoff_hz=1.0, beta=0.0, d_cutoff_hz=1.0)
>>> f(np.array([0.0]), 0.0).tolist(), np.round(f(np.array([1.0]), 0.04), 3).tolist()
([0.0], [0.201])
"""

from __future__ import annotations

import math

import numpy as np


def _alpha(cutoff_hz: np.ndarray | float, dt_s: float) -> np.ndarray:
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff_hz, dtype=np.float64))
    return 1.0 / (1.0 + tau / dt_s)


class OneEuroFilter:
    """Filters a vector signal component by component, timed by the caller's timestamps.

    Time comes from the frames' pts, not the wall clock, so a replayed or slowed-down stream
    is filtered exactly like the live one. A timestamp that does not advance (a repeated or
    backwards pts) returns the last output unchanged instead of dividing by zero or running
    time backwards.
    """

    def __init__(self, min_cutoff_hz: float = 1.0, beta: float = 0.0, d_cutoff_hz: float = 1.0):
        if min_cutoff_hz <= 0 or d_cutoff_hz <= 0 or beta < 0:
            raise ValueError("need min_cutoff_hz > 0, d_cutoff_hz > 0 and beta >= 0")
        self.min_cutoff_hz = min_cutoff_hz
        self.beta = beta
        self.d_cutoff_hz = d_cutoff_hz
        self._value: np.ndarray | None = None
        self._speed: np.ndarray | None = None
        self._t_s = 0.0

    @property
    def last(self) -> np.ndarray | None:
        """The last output (a copy), None before the first value or after a reset."""
        return None if self._value is None else self._value.copy()

    def reset(self) -> None:
        """Forget the past: the next value passes through unfiltered."""
        self._value = None
        self._speed = None

    def __call__(self, value: np.ndarray, t_s: float) -> np.ndarray:
        """Filter ``value`` observed at time ``t_s`` (seconds); returns a new float64 array."""
        x = np.asarray(value, dtype=np.float64)
        if self._value is None or self._speed is None:
            self._value = x.copy()
            self._speed = np.zeros_like(x)
            self._t_s = t_s
            return self._value.copy()
        dt = t_s - self._t_s
        if dt <= 0.0:
            return self._value.copy()
        speed = (x - self._value) / dt
        self._speed = self._speed + _alpha(self.d_cutoff_hz, dt) * (speed - self._speed)
        cutoff = self.min_cutoff_hz + self.beta * np.abs(self._speed)
        self._value = self._value + _alpha(cutoff, dt) * (x - self._value)
        self._t_s = t_s
        return self._value.copy()
