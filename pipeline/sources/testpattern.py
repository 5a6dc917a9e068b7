"""A generated test pattern, like GStreamer's ``videotestsrc``."""

from __future__ import annotations

import cv2
import numpy as np

SEQ_BITS = 24
SEQ_CELL = 2  # px per bit of the frame-number stripe (48 px wide in all)


def read_stamped_index(image: np.ndarray) -> int:
    """Recover the frame index a :class:`TestPatternSource` stamped into ``image``.

    Example:
        >>> src = TestPatternSource("t", 64, 48, fps=10, frames=5); src.open()
        >>> _ = src.read(); img, pts = src.read()
        >>> read_stamped_index(img), pts
        (1, 100000000)
    """
    row = image[SEQ_CELL // 2, : SEQ_BITS * SEQ_CELL : SEQ_CELL, 1]
    bits = (row > 127).astype(np.int64)
    return int((bits << np.arange(SEQ_BITS)).sum())


class TestPatternSource:
    """Moving colour bars with the frame index stamped as a binary stripe in the top
    row (read back by :func:`read_stamped_index`) and drawn as text.
    pts = index / fps. ``frames=None`` never ends."""

    __test__ = False
    live = False

    def __init__(self, stream: str, width: int, height: int, fps: float,
                 frames: int | None = None):
        self.stream = stream
        self.width, self.height = width, height
        self.fps = fps
        self.frames = frames
        self._index = 0
        self._bars: np.ndarray | None = None

    def open(self) -> None:
        x = np.arange(self.width * 2)
        hue = (x * 180 // self.width % 180).astype(np.uint8)
        hsv = np.stack([hue, np.full_like(hue, 200), np.full_like(hue, 220)], -1)[None]
        bars = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
        self._bars = np.repeat(bars, self.height, axis=0)
        self._index = 0

    def _next(self) -> int | None:
        if self.frames is not None and self._index >= self.frames:
            return None
        self._index += 1
        return self._index - 1

    def read(self) -> tuple[np.ndarray, int] | None:
        assert self._bars is not None
        index = self._next()
        if index is None:
            return None
        shift = (index * 4) % self.width
        image = np.ascontiguousarray(self._bars[:, shift : shift + self.width])
        bits = (index >> np.arange(SEQ_BITS)) & 1
        stripe = np.repeat(bits.astype(np.uint8) * 255, SEQ_CELL)[: self.width]
        image[:SEQ_CELL, : stripe.size] = stripe[None, :, None]
        cv2.putText(image, f"{self.stream} #{index}", (8, self.height - 12),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
        return image, round(index * 1e9 / self.fps)

    def skip(self) -> int | None:
        index = self._next()
        return None if index is None else round(index * 1e9 / self.fps)

    def close(self) -> None:
        self._bars = None
