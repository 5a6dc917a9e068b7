"""A file-like source with a bug: after ``frames`` frames its read raises a plain
RuntimeError (not a SourceError), as third-party decoders do."""

from __future__ import annotations

import numpy as np


class FaultySource:
    live = False
    fps = 25.0

    def __init__(self, stream: str, frames: int):
        self.stream = stream
        self.frames = frames
        self.index = 0

    def open(self) -> None:
        self.index = 0

    def read(self) -> tuple[np.ndarray, int] | None:
        if self.index >= self.frames:
            raise RuntimeError("decoder bug: index out of range")
        self.index += 1
        return np.zeros((16, 16, 3), np.uint8), (self.index - 1) * 40_000_000

    def skip(self) -> int | None:
        self.index += 1
        return (self.index - 1) * 40_000_000

    def close(self) -> None:
        pass


def make(stream: str, frames: int = 5, **_: object) -> FaultySource:
    return FaultySource(stream, frames)


class FiniteSource(FaultySource):
    """``frames`` frames, then the end: a clean file-like source."""

    def read(self) -> tuple[np.ndarray, int] | None:
        if self.index >= self.frames:
            return None
        return super().read()


def hang_at_exit(stream: str, frames: int = 5, **_: object) -> FiniteSource:
    """A clean source whose process then hangs while exiting (as a library's atexit
    hook or a stuck native thread can), after the stage reported its streams done."""
    import atexit
    import time

    atexit.register(time.sleep, 120)
    return FiniteSource(stream, frames)


class SlowToPrepare(FiniteSource):
    """A clean source whose one-off preparation (before its stage reports ready) takes
    ``seconds``, as the synthetic scene's face loading does on a loaded machine."""

    def __init__(self, stream: str, frames: int, seconds: float):
        super().__init__(stream, frames)
        self.seconds = seconds

    def prepare(self) -> None:
        import time

        time.sleep(self.seconds)  # the slow start is the fault under test


def slow_to_prepare(stream: str, frames: int = 5, seconds: float = 3.0,
                    **_: object) -> SlowToPrepare:
    return SlowToPrepare(stream, frames, seconds)
