"""One stream's frames in a shared-memory ring (:mod:`pipeline.runtime.frame_ring`).

When the next stage shares this host, capture puts each frame in a ring slot and sends
only its place; a source that can decode in place writes straight into the slot (no
copy at all). Across hosts, or with ``transport.frame_ring: off``, frames go inline.
The ring is made on the stream's first frame (sized to it) and lives as long as the
stream's reader; a frame bigger than the slots goes inline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from pipeline.config import PipelineConfig
from pipeline.runtime.frame_ring import FrameRingWriter
from pipeline.sources import Source

Shared = dict[str, tuple[str, int, int]]  # buffer name -> (ring, slot, generation)


def ring_wanted(config: PipelineConfig, target: str) -> bool:
    """Whether frames sent to ``target`` (the next stage's endpoint) go through a
    ring: ``frame_ring: on``, or ``auto`` and the next stage on this host."""
    mode = config.transport.frame_ring
    local = target.startswith("ipc://") or target.startswith(
        ("tcp://127.", "tcp://localhost:", "tcp://[::1]:"))
    return mode == "on" or (mode == "auto" and local)


class FrameSlots:
    """The stream's ring, or none (frames inline)."""

    def __init__(self, stream: str, wanted: bool, slots: int, log: logging.Logger):
        self.stream = stream
        self.wanted = wanted
        self.slots = slots
        self.log = log
        self.ring: FrameRingWriter | None = None
        self.in_place = 0  # frames decoded straight into a slot
        self._shape: tuple[int, ...] | None = None  # the last frame's

    def _ring_for(self, image: np.ndarray) -> FrameRingWriter | None:
        if self.ring is None and self.wanted:
            try:
                self.ring = FrameRingWriter(f"mestream-{self.stream}"[:40], self.slots,
                                            image.nbytes)
            except OSError as exc:
                self.log.warning("stream %s: %s; frames go through the socket",
                                 self.stream, exc)
                self.wanted = False
        return self.ring

    def place(self, image: np.ndarray,
              keep_waiting: Callable[[], bool]) -> tuple[np.ndarray, Shared] | None:
        """Copy ``image`` into the next slot: (the slot's view, its place), or
        (``image``, {}) with no ring or a frame too big for the slots; None when
        ``keep_waiting`` gave up while the next stage still held the slot."""
        self._shape = image.shape
        ring = self._ring_for(image)
        if ring is None or not ring.fits(image.shape, image.dtype):
            return image, {}
        got = ring.acquire(image.shape, image.dtype, wait=keep_waiting)
        if got is None:
            return None
        slot, gen, view = got
        np.copyto(view, image)
        return view, {"image": (ring.name, slot, gen)}

    def decode(self, src: Source, keep_waiting: Callable[[], bool]
               ) -> tuple[tuple[np.ndarray, int] | None, Shared] | None:
        """``src.read()``, straight into the next slot when the source can decode in
        place and the frame keeps the last one's shape: (what read gave, its place or
        {}); None when ``keep_waiting`` gave up waiting for a slot."""
        read_into = getattr(src, "read_into", None)
        ring, shape = self.ring, self._shape
        if ring is None or read_into is None or shape is None or not ring.fits(shape,
                                                                                np.uint8):
            return src.read(), {}
        acquired = ring.acquire(shape, np.uint8, wait=keep_waiting)
        if acquired is None:
            return None
        slot, gen, view = acquired
        try:
            got = read_into(view)
        except BaseException:
            ring.cancel(slot, gen)
            raise
        if got is None or not (got[0] is view or np.may_share_memory(got[0], view)):
            ring.cancel(slot, gen)  # the end, or a frame of another shape: not in place
            return got, {}
        self.in_place += 1
        self._shape = got[0].shape
        return got, {"image": (ring.name, slot, gen)}

    def cancel(self, shared: Shared | dict[str, Any]) -> None:
        """Give back the slots of a frame that will not be sent."""
        if self.ring is not None:
            for _, slot, gen in shared.values():
                self.ring.cancel(slot, gen)

    def reclaim(self) -> None:
        """Free every slot: the next stage restarted, and what it held is superseded."""
        if self.ring is not None:
            self.ring.reclaim()

    def close(self) -> None:
        if self.ring is None:
            return
        self.log.info("stream %s: %d frames went through shared memory, %d decoded in "
                      "place (%d slots of %.2f MB)", self.stream, self.ring.frames_written,
                      self.in_place, self.ring.slots, self.ring.slot_bytes / 1e6)
        self.ring.close()
        self.ring = None
