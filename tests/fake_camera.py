"""A camera stand-in at the hardware edge: a live source that delivers frames at its
own frame rate whether or not anyone keeps up, as a real camera does."""

from __future__ import annotations

import time

import numpy as np


class FakeCamera:
    live = True

    def __init__(self, stream: str, fps: float = 200.0, width: int = 64, height: int = 48):
        self.stream = stream
        self.fps = fps
        self.shape = (height, width, 3)
        self._index = 0
        self._t0 = 0.0

    def open(self) -> None:
        self._t0 = time.monotonic()

    def read(self) -> tuple[np.ndarray, int]:
        due = self._t0 + self._index / self.fps
        delay = due - time.monotonic()
        if delay > 0:  # the sensor's exposure clock, not a test synchronisation
            time.sleep(delay)
        image = np.full(self.shape, self._index % 256, np.uint8)
        pts = round(self._index * 1e9 / self.fps)
        self._index += 1
        return image, pts

    def skip(self) -> int | None:
        return self.read()[1]

    def close(self) -> None:
        pass


def make(stream: str, **options: float) -> FakeCamera:
    return FakeCamera(stream, **options)
