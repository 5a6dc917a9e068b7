"""What every frame source provides."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from pipeline.errors import SourceError


class BadFrame(SourceError):
    """One frame could not be read (corrupt file, unreadable image); the source
    itself is still usable and the next frame may be fine."""


class Source(Protocol):
    """A stream of frames with their presentation times.

    ``read`` returns ``(image, pts_ns)`` with ``image`` a ``(H, W, 3)`` uint8 BGR array
    and ``pts_ns`` from the source's own clock (container pts, frame index / fps, or
    the camera driver's timestamp), or ``None`` at the end. It raises
    :class:`BadFrame` for one bad frame and :class:`SourceError` when the source
    died (a live source is then reopened).

    A source that can decode straight into a given array (a shared-memory ring slot,
    ``pipeline/runtime/frame_ring.py``) also has ``read_into(out)``, same result, writing the
    image into ``out`` when its shape fits (the returned image is then ``out``).
    """

    stream: str
    live: bool  # live sources drop the oldest frames under load; files block
    fps: float | None

    def open(self) -> None: ...

    def read(self) -> tuple[np.ndarray, int] | None: ...

    def skip(self) -> int | None:
        """Advance one frame without decoding it if possible; its pts, or None at end."""
        ...

    def close(self) -> None: ...
