"""What flows between the stages, typed: an aligned :class:`Face` (align -> spot) and a
spotted :class:`Clip` (spot -> classify), each frozen, shape-checked, and mapped to and
from its wire :class:`~pipeline.runtime.wire.Message` here and nowhere else.

The wire format is unchanged (docs/protocol.md: the same buffer names and meta keys), so
a client written against the protocol reads these as before; inside the pipeline a stage
gets attributes with types instead of ``msg.meta.get("...")`` on a dict, and a message
whose buffers or keys do not make a face or a clip is refused in one place with a
:class:`~pipeline.errors.WireError` that names what is wrong.

Example:
    >>> import numpy as np
    >>> span = Span(1_000, 1_500, 2_000, 0.9, "micro", "learned")
    >>> clip = Clip("cam", 0, 1_500, 2, np.zeros((18, 64, 64), np.uint8),
    ...             np.zeros((18, 32, 32), np.uint8), np.zeros((18, 32, 32), np.uint8),
    ...             span, after_offset_ms=400.0, spot_emit_unix_ns=0, source_frames=9,
    ...             clip_start_ns=900, clip_end_ns=2_100, first_seq=10, last_seq=18)
    >>> back = Clip.from_message(clip.to_message())
    >>> back.span == span, back.first_seq, back.face.shape
    (True, 10, (18, 64, 64))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.errors import WireError
from pipeline.runtime import wire
from pipeline.runtime.wire import Message
from pipeline.stages.spot.windowing import RESAMPLE_METHOD


def _array(buffers: dict[str, np.ndarray], name: str, kind: str, dtype: type,
           ndim: int) -> np.ndarray:
    a = buffers.get(name)
    if not isinstance(a, np.ndarray):
        raise WireError(f"{kind} message: no {name!r} buffer")
    if a.dtype != np.dtype(dtype) or a.ndim != ndim:
        raise WireError(f"{kind} message: {name!r} is {a.dtype}{list(a.shape)}, expected "
                        f"{np.dtype(dtype)} with {ndim} axes")
    return a


def _int(meta: dict[str, Any], key: str, kind: str) -> int:
    v = meta.get(key)
    if not isinstance(v, int) or isinstance(v, bool):
        raise WireError(f"{kind} message: meta {key!r} must be an integer, got {v!r}")
    return v


def _optional_int(meta: dict[str, Any], key: str, kind: str) -> int | None:
    return None if meta.get(key) is None else _int(meta, key, kind)


def _optional_number(meta: dict[str, Any], key: str, kind: str) -> float | None:
    v = meta.get(key)
    if v is None:
        return None
    if not isinstance(v, int | float) or isinstance(v, bool):
        raise WireError(f"{kind} message: meta {key!r} must be a number, got {v!r}")
    return float(v)


def _track(msg: Message) -> int:
    if msg.track is None:
        raise WireError(f"{msg.kind} message of stream {msg.stream!r} has no track")
    return msg.track


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
        return cls(msg.stream, msg.seq, msg.pts_ns, _track(msg),
                   _array(b, "face", "face", np.uint8, 3),
                   _array(b, "gray", "face", np.uint8, 2),
                   _array(b, "eyes", "face", np.uint8, 2),
                   _array(b, "mouth", "face", np.uint8, 2),
                   _array(b, "landmarks", "face", np.float32, 2),
                   _array(b, "transform", "face", np.float32, 2),
                   str(m.get("scheme", "")), tuple(float(v) for v in box),
                   int(m.get("anchor_pts_ns", msg.pts_ns)), dict(m.get("quality") or {}),
                   (int(shape[0]), int(shape[1])))


@dataclass(frozen=True, slots=True)
class Span:
    """A spotted interval as it travels (pts ns of the source; ``kind`` micro|macro)."""

    onset_ns: int
    apex_ns: int
    offset_ns: int
    score: float | None
    kind: str | None
    spotter: str | None

    def meta(self) -> dict[str, Any]:
        return {"onset_ns": self.onset_ns, "apex_ns": self.apex_ns,
                "offset_ns": self.offset_ns, "score": self.score, "kind": self.kind,
                "spotter": self.spotter}

    @classmethod
    def from_meta(cls, meta: dict[str, Any], kind: str) -> Span:
        onset, apex, offset = (_int(meta, k, kind) for k in ("onset_ns", "apex_ns",
                                                              "offset_ns"))
        if not onset <= offset:
            raise WireError(f"{kind} message: onset_ns {onset} after offset_ns {offset}")
        return cls(onset, apex, offset, _optional_number(meta, "score", kind),
                   meta.get("kind"), meta.get("spotter"))


@dataclass(frozen=True, slots=True)
class Clip:
    """The frames of one spotted interval, resampled to the model's T (spot -> classify;
    protocol: ``clip``). ``seq`` numbers the clips of a (stream, track): 0, 1, 2, ..."""

    stream: str
    seq: int
    pts_ns: int             # the apex
    track: int
    face: np.ndarray        # uint8 (T, S, S) aligned gray faces
    eyes: np.ndarray        # uint8 (T, R, R)
    mouth: np.ndarray       # uint8 (T, R, R)
    span: Span
    # The rest is what the spot stage adds; a clip from another producer may leave it out
    # (docs/protocol.md), so each may be None.
    after_offset_ms: float | None = None   # source time from the offset to leaving spot
    spot_emit_unix_ns: int | None = None   # wall clock when it left spot
    source_frames: int | None = None       # frames the T were resampled from
    clip_start_ns: int | None = None
    clip_end_ns: int | None = None
    first_seq: int | None = None  # the source frames it holds: what a re-read brings back
    last_seq: int | None = None
    resample: str = RESAMPLE_METHOD

    def __post_init__(self) -> None:
        t = self.face.shape[0]
        if self.eyes.shape[0] != t or self.mouth.shape[0] != t:
            raise WireError(f"clip message: face, eyes and mouth hold {t}, "
                            f"{self.eyes.shape[0]} and {self.mouth.shape[0]} frames")

    @property
    def buffers(self) -> dict[str, np.ndarray]:
        """The clip's streams by name, as :func:`~pipeline.stages.classify.clip_tensor.
        model_input` reads them."""
        return {"face": self.face, "eyes": self.eyes, "mouth": self.mouth}

    def to_message(self) -> Message:
        meta = {**self.span.meta(), "after_offset_ms": self.after_offset_ms,
                "spot_emit_unix_ns": self.spot_emit_unix_ns, "resample": self.resample,
                "source_frames": self.source_frames, "clip_start_ns": self.clip_start_ns,
                "clip_end_ns": self.clip_end_ns, "first_seq": self.first_seq,
                "last_seq": self.last_seq}
        return Message(wire.CLIP, self.stream, self.seq, self.pts_ns, buffers=self.buffers,
                       meta=meta, track=self.track)

    @classmethod
    def from_message(cls, msg: Message) -> Clip:
        b, m = msg.buffers, msg.meta
        return cls(msg.stream, msg.seq, msg.pts_ns, _track(msg),
                   _array(b, "face", "clip", np.uint8, 3),
                   _array(b, "eyes", "clip", np.uint8, 3),
                   _array(b, "mouth", "clip", np.uint8, 3),
                   Span.from_meta(m, "clip"), _optional_number(m, "after_offset_ms", "clip"),
                   *(_optional_int(m, k, "clip") for k in (
                       "spot_emit_unix_ns", "source_frames", "clip_start_ns", "clip_end_ns",
                       "first_seq", "last_seq")),
                   str(m.get("resample", RESAMPLE_METHOD)))
