"""The interface every online spotter implements.

A spotter belongs to one tracked face: create one per track, feed it that track's frames
in pts order, call :meth:`Spotter.flush` when the track ends.
"""

from __future__ import annotations

from collections import deque
from typing import Protocol, runtime_checkable

from pipeline.spotting.face_frame import FaceFrame
from pipeline.spotting.interval import SpottedInterval


@runtime_checkable
class Spotter(Protocol):
    """An online spotter of one face."""

    name: str

    def push(self, frame: FaceFrame) -> list[SpottedInterval]:
        """Consume the next frame; the intervals that became final with it (each at most
        :attr:`latency_ms` of pts after its offset)."""
        ...

    def flush(self) -> list[SpottedInterval]:
        """The track ended: the intervals still pending, final now."""
        ...

    def score_history(self) -> list[tuple[int, float]]:
        """(pts_ns, score) of the frames scored so far (within the kept history), for
        timelines."""
        ...

    def latest_score(self) -> tuple[int, float] | None:
        """The newest (pts_ns, score), without copying the history (called per frame)."""
        ...

    @property
    def latency_ms(self) -> float:
        """Upper bound on (pts of the frame that emits an interval) - (its offset)."""
        ...


class ScoredSpotter:
    """What every spotter here shares: the (pts_ns, score) history behind
    :meth:`Spotter.score_history` and :meth:`Spotter.latest_score`. A subclass creates
    ``self._history`` (bounded as it needs) and appends to it as it scores."""

    _history: deque[tuple[int, float]]

    def score_history(self) -> list[tuple[int, float]]:
        return list(self._history)

    def latest_score(self) -> tuple[int, float] | None:
        return self._history[-1] if self._history else None

    def _forget_scores_before(self, now_ns: int, history_ms: float) -> None:
        """Drop the scores older than ``history_ms`` before ``now_ns``."""
        while self._history and now_ns - self._history[0][0] > history_ms * 1e6:
            self._history.popleft()
