"""Resample a stream of frames to a fixed tick by pts, online.

Ticks lie on one grid for the whole stream, ``k * tick_ns`` in source pts (the first is
the first grid point the track's first frame can serve), so a stream read again from a
later frame (a re-read after a stage restart) gets the same ticks as the first reading.
A tick takes the latest frame with ``pts <= tick + tick_ns / 2``: the nearest frame when
the source is at the tick rate, the frame in force otherwise. A tick is decided once a
frame past that bound arrives (or at :meth:`TickSampler.flush`), so it costs at most one
source frame of delay. The learned spotter's training data and its runtime both go
through this.

>>> s = TickSampler(tick_ms=40.0)
>>> [s.push(p * 1_000_000, p) for p in (0, 33, 67, 100)]
[[], [(0, 0)], [(40000000, 33)], []]
>>> s.flush()                     # tick 80 ms takes frame 100 (within half a tick)
[(80000000, 100), (120000000, 100)]
>>> t = TickSampler(tick_ms=40.0)  # read from a later frame: the same grid
>>> [t.push(p * 1_000_000, p) for p in (4033, 4067, 4100)]
[[], [(4040000000, 4033)], []]
"""

from __future__ import annotations

from typing import Any


class TickSampler:
    """Frames (pts_ns, item) in, (tick_ns, item) out, in order."""

    def __init__(self, tick_ms: float):
        if tick_ms <= 0:
            raise ValueError(f"tick_ms must be > 0, got {tick_ms}")
        self.tick_ns = round(tick_ms * 1e6)
        self._half = self.tick_ns // 2
        self._next: int | None = None
        self._last: tuple[int, Any] | None = None

    def push(self, pts_ns: int, item: Any) -> list[tuple[int, Any]]:
        """Take the next frame; the ticks decided by it (each with its frame's item)."""
        out: list[tuple[int, Any]] = []
        if self._next is None:  # the first grid point this frame can serve
            self._next = -((self._half - pts_ns) // self.tick_ns) * self.tick_ns
        elif self._last is not None:
            while self._next + self._half < pts_ns:
                out.append((self._next, self._last[1]))
                self._next += self.tick_ns
        self._last = (pts_ns, item)
        return out

    def flush(self) -> list[tuple[int, Any]]:
        """The stream ended: the ticks its last frame covers (up to half a tick past it)."""
        out: list[tuple[int, Any]] = []
        if self._last is not None and self._next is not None:
            while self._next <= self._last[0] + self._half:
                out.append((self._next, self._last[1]))
                self._next += self.tick_ns
        self._last = None
        return out
