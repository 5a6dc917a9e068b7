"""Time-based history of one tracked face, and clips cut from it at the model's length.

Everything is in milliseconds of source time (``pts_ns``), never in frames, so one
config serves a 25 fps webcam and a 200 fps lab camera. A clip is resampled to the
model's ``T`` frames by linear interpolation in time (``RESAMPLE_METHOD``, written into
the clip header), whatever the camera's frame rate.

Example:
    >>> import numpy as np
    >>> w = ClipWindow(history_ms=1000)
    >>> for i in range(30):                        # 1 s at 30 fps
    ...     g = np.full((4, 4), i, np.uint8)
    ...     w.append(i * 33_333_333, i, g, g[:2, :2], g[:2, :2])
    >>> clip = w.clip(0, 29 * 33_333_333, frames=10)
    >>> clip.face.shape, int(clip.face[0, 0, 0]), int(clip.face[-1, 0, 0])
    ((10, 4, 4), 0, 29)
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

RESAMPLE_METHOD = "linear-in-time"


@dataclass(slots=True)
class WindowFrame:
    pts_ns: int
    seq: int
    face: np.ndarray   # (S, S) uint8 aligned gray face
    eyes: np.ndarray   # (R, R) uint8
    mouth: np.ndarray  # (R, R) uint8


@dataclass(slots=True)
class Clip:
    """``T`` frames resampled from source frames between ``start_ns`` and ``end_ns``."""

    face: np.ndarray   # (T, S, S) uint8
    eyes: np.ndarray   # (T, R, R) uint8
    mouth: np.ndarray  # (T, R, R) uint8
    start_ns: int
    end_ns: int
    source_frames: int
    first_seq: int
    last_seq: int


def interpolation_weights(pts: np.ndarray, targets: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each target time, its two nearest frames and the weight of the later one:
    frame ``lower`` x (1 - w) + frame ``upper`` x w is linear interpolation in time
    (``pts`` increasing, at least two; targets outside them take the end frame).

    Example:
        >>> lo, hi, w = interpolation_weights(np.array([0.0, 10.0, 20.0]),
        ...                                   np.array([-5.0, 5.0, 20.0]))
        >>> lo.tolist(), hi.tolist(), w.tolist()
        ([0, 0, 1], [1, 1, 2], [0.0, 0.5, 1.0])
    """
    upper = np.clip(np.searchsorted(pts, targets, side="left"), 1, len(pts) - 1)
    lower = upper - 1
    span = pts[upper] - pts[lower]
    w = np.where(span > 0, (targets - pts[lower]) / np.where(span > 0, span, 1), 0.0)
    return lower, upper, np.clip(w, 0.0, 1.0)


class ClipWindow:
    """The last ``history_ms`` of one face track."""

    def __init__(self, history_ms: float):
        self.history_ns = int(history_ms * 1e6)
        self.frames: deque[WindowFrame] = deque()

    def append(self, pts_ns: int, seq: int, face: np.ndarray, eyes: np.ndarray,
               mouth: np.ndarray) -> None:
        if self.frames and pts_ns <= self.frames[-1].pts_ns:
            return  # a repeated or backwards timestamp adds nothing to a time series
        self.frames.append(WindowFrame(pts_ns, seq, face, eyes, mouth))
        while self.frames and self.frames[0].pts_ns < pts_ns - self.history_ns:
            self.frames.popleft()

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def span_ns(self) -> tuple[int, int] | None:
        return (self.frames[0].pts_ns, self.frames[-1].pts_ns) if self.frames else None

    def clip(self, start_ns: int, end_ns: int, frames: int) -> Clip | None:
        """``frames`` frames evenly spaced in time over [start_ns, end_ns], each linearly
        interpolated between its two nearest source frames; None if the window holds no
        frame in that span (it has scrolled past)."""
        inside = [f for f in self.frames if start_ns <= f.pts_ns <= end_ns]
        if not inside:
            return None
        if len(inside) == 1:
            only = inside[0]
            rep = (np.repeat(only.face[None], frames, 0), np.repeat(only.eyes[None], frames, 0),
                   np.repeat(only.mouth[None], frames, 0))
            return Clip(*rep, start_ns, end_ns, 1, only.seq, only.seq)
        pts = np.array([f.pts_ns for f in inside], np.float64)
        lower, upper, w = interpolation_weights(pts, np.linspace(pts[0], pts[-1], frames))

        def stack(name: str) -> np.ndarray:
            src = np.stack([getattr(f, name) for f in inside]).astype(np.float32)
            ww = w.reshape(-1, *([1] * (src.ndim - 1)))
            out = src[lower] * (1 - ww) + src[upper] * ww
            return np.clip(np.rint(out), 0, 255).astype(np.uint8)

        return Clip(stack("face"), stack("eyes"), stack("mouth"), int(pts[0]), int(pts[-1]),
                    len(inside), inside[0].seq, inside[-1].seq)
