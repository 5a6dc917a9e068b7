"""A decoded frame (capture -> align)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipeline.errors import WireError
from pipeline.messages.fields import expect, optional_number
from pipeline.runtime import wire
from pipeline.runtime.wire import Message


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame of a stream (capture -> align; protocol: ``frame``). Its pixels
    may be a view on a shared-memory ring slot (``shared`` names it): valid while the
    receiving stage handles the message only."""

    stream: str
    seq: int
    pts_ns: int
    image: np.ndarray        # uint8 (H, W, 3) BGR, or (H, W) gray
    fps: float | None = None  # the source's nominal rate, when it has one
    epoch: int = 0
    shared: dict[str, tuple[str, int, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        a = self.image
        if (not isinstance(a, np.ndarray) or a.dtype != np.uint8
                or not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3))
                or 0 in a.shape):
            raise WireError(f"frame message: image {getattr(a, 'dtype', type(a).__name__)}"
                            f"{list(getattr(a, 'shape', []))} is not a uint8 (H, W, 3) or "
                            "(H, W) image")

    def to_message(self) -> Message:
        return Message(wire.FRAME, self.stream, self.seq, self.pts_ns, {"image": self.image},
                       meta={"fps": self.fps} if self.fps else {}, epoch=self.epoch,
                       shared=dict(self.shared))

    @classmethod
    def from_message(cls, msg: Message) -> Frame:
        expect(msg, wire.FRAME)
        image = msg.buffers.get("image")
        if not isinstance(image, np.ndarray):
            raise WireError("frame message: no 'image' buffer")
        return cls(msg.stream, msg.seq, msg.pts_ns, image,
                   optional_number(msg.meta, "fps", "frame"), msg.epoch, dict(msg.shared))
