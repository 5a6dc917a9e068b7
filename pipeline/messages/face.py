"""An aligned face of one frame (align -> spot)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipeline.errors import WireError
from pipeline.messages.fields import array, track
from pipeline.runtime import wire
from pipeline.runtime.wire import Message


@dataclass(frozen=True, slots=True)
class Face:
    """One tracked face of one frame, aligned (align -> spot; protocol: ``face``)."""

    stream: str
    seq: int
    pts_ns: int
    track: int
    face: np.ndarray        # uint8 (S, S, 3) BGR aligned face
    gray: np.ndarray        # uint8 (S, S)
    eyes: np.ndarray        # uint8 (R, R) both eyes and brows
    mouth: np.ndarray       # uint8 (R, R) the lower face around the mouth
    landmarks: np.ndarray   # float32 (N, 2 or 3), image pixels
    transform: np.ndarray   # float32 (2, 3): image -> canonical pixels
    scheme: str             # the landmark scheme ("mediapipe478", ...)
    box: tuple[float, ...]  # face box in the frame, px
    anchor_pts_ns: int      # pts of the frame whose transform is in use
    quality: dict[str, float] = field(default_factory=dict)
    frame_shape: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        s = self.gray.shape
        if self.face.shape[:2] != s or self.face.shape[2:] != (3,):
            raise WireError(f"face message: face {list(self.face.shape)} is not the gray "
                            f"face's {list(s)} in 3 channels")
        if self.eyes.shape != self.mouth.shape:
            raise WireError(f"face message: eyes {list(self.eyes.shape)} and mouth "
                            f"{list(self.mouth.shape)} differ")
        if self.transform.shape != (2, 3) or self.landmarks.shape[1:] not in ((2,), (3,)):
            raise WireError(f"face message: transform {list(self.transform.shape)} / "
                            f"landmarks {list(self.landmarks.shape)} are not (2, 3) / (N, 2|3)")

    def to_message(self) -> Message:
        return Message(wire.FACE, self.stream, self.seq, self.pts_ns,
                       buffers={"face": self.face, "gray": self.gray, "eyes": self.eyes,
                                "mouth": self.mouth, "landmarks": self.landmarks,
                                "transform": self.transform},
                       meta={"scheme": self.scheme, "box": list(self.box),
                             "anchor_pts_ns": self.anchor_pts_ns, "quality": self.quality,
                             "frame_shape": list(self.frame_shape)},
                       track=self.track)

    @classmethod
    def from_message(cls, msg: Message) -> Face:
        b, m = msg.buffers, msg.meta
        box = m.get("box") or []
        shape = m.get("frame_shape") or [0, 0]
        return cls(msg.stream, msg.seq, msg.pts_ns, track(msg),
                   array(b, "face", "face", np.uint8, 3),
                   array(b, "gray", "face", np.uint8, 2),
                   array(b, "eyes", "face", np.uint8, 2),
                   array(b, "mouth", "face", np.uint8, 2),
                   array(b, "landmarks", "face", np.float32, 2),
                   array(b, "transform", "face", np.float32, 2),
                   str(m.get("scheme", "")), tuple(float(v) for v in box),
                   int(m.get("anchor_pts_ns", msg.pts_ns)), dict(m.get("quality") or {}),
                   (int(shape[0]), int(shape[1])))
