"""What flows between the stages, typed: a decoded :class:`Frame` (capture -> align),
an aligned :class:`Face` (align -> spot), a spotted :class:`Clip` (spot -> classify), an
:class:`Event` (classify or spot -> publish), and the stream's :class:`Watermark` and
:class:`EndOfStream` (every hop), each frozen, shape-checked, and mapped to and from its
wire :class:`~pipeline.runtime.wire.Message` here and nowhere else.

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


def _optional_str(meta: dict[str, Any], key: str, kind: str) -> str | None:
    v = meta.get(key)
    if v is not None and not isinstance(v, str):
        raise WireError(f"{kind} message: meta {key!r} must be a string, got {v!r}")
    return v


def _optional_dict(meta: dict[str, Any], key: str, kind: str) -> dict[str, Any] | None:
    v = meta.get(key)
    if v is not None and not isinstance(v, dict):
        raise WireError(f"{kind} message: meta {key!r} must be an object, got {v!r}")
    return v


def _expect(msg: Message, kind: str) -> None:
    if msg.kind != kind:
        raise WireError(f"expected a {kind} message, got a {msg.kind} message")


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
        _expect(msg, wire.FRAME)
        image = msg.buffers.get("image")
        if not isinstance(image, np.ndarray):
            raise WireError("frame message: no 'image' buffer")
        return cls(msg.stream, msg.seq, msg.pts_ns, image,
                   _optional_number(msg.meta, "fps", "frame"), msg.epoch, dict(msg.shared))


@dataclass(frozen=True, slots=True)
class Watermark:
    """Every frame of ``stream`` before ``seq`` has been sent, and no stage before this
    one holds any of them (protocol: ``watermark``; :mod:`pipeline.runtime.recovery`)."""

    stream: str
    seq: int
    pts_ns: int
    epoch: int = 0

    def to_message(self) -> Message:
        return Message(wire.WATERMARK, self.stream, self.seq, self.pts_ns, epoch=self.epoch)

    @classmethod
    def from_message(cls, msg: Message) -> Watermark:
        _expect(msg, wire.WATERMARK)
        return cls(msg.stream, msg.seq, msg.pts_ns, msg.epoch)


@dataclass(frozen=True, slots=True)
class EndOfStream:
    """The end of a stream's pass (protocol: ``eos``): ``seq`` is one past its last
    frame; ``reason`` says why it ended (end-of-file, stopped, dead, open-failed, ...);
    ``failed`` names the stage whose end-of-stream hook raised, and the error."""

    stream: str
    seq: int
    pts_ns: int
    reason: str = ""
    failed: str | None = None
    epoch: int = 0

    def to_message(self) -> Message:
        meta: dict[str, Any] = {"reason": self.reason}
        if self.failed:
            meta["failed"] = self.failed
        return Message(wire.EOS, self.stream, self.seq, self.pts_ns, meta=meta,
                       epoch=self.epoch)

    @classmethod
    def from_message(cls, msg: Message) -> EndOfStream:
        _expect(msg, wire.EOS)
        failed = msg.meta.get("failed")
        return cls(msg.stream, msg.seq, msg.pts_ns, str(msg.meta.get("reason") or ""),
                   None if not failed else str(failed), msg.epoch)

    def failing(self, stage: str, exc: BaseException) -> EndOfStream:
        """This end, marked as failed in ``stage`` (the end still reaches the next
        stage, or the run would wait for it forever)."""
        return EndOfStream(self.stream, self.seq, self.pts_ns, self.reason,
                           f"{stage}: {exc!r}"[:500], self.epoch)


@dataclass(frozen=True, slots=True)
class Classification:
    """What the classify stage says of a clip (an :class:`Event`'s model part)."""

    label: str
    probs: dict[str, float]
    aus: dict[str, float] | None
    label_from_aus: str | None
    intensity: list[float] | None
    model: dict[str, Any]
    latency_ms: dict[str, Any]
    clip_arrived_unix_ns: int | None = None
    classified_unix_ns: int | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """A spotted expression of one face track (-> publish; protocol: ``event``).

    Classified (from classify: ``classification`` set, the interval nested under
    ``interval`` on the wire) or spotting-only (a pipeline whose spot stage feeds
    publish: no class, ``label`` null, the spotter's interval fields at the top level).
    ``seq`` numbers the events of a (stream, track) as their clips were numbered."""

    stream: str
    seq: int
    pts_ns: int             # the apex
    track: int
    span: Span
    classification: Classification | None = None
    after_offset_ms: float | None = None
    spot_emit_unix_ns: int | None = None
    note: str | None = None

    @property
    def label(self) -> str | None:
        return None if self.classification is None else self.classification.label

    def to_message(self) -> Message:
        c = self.classification
        if c is None:
            meta: dict[str, Any] = {**self.span.meta(), "after_offset_ms": self.after_offset_ms,
                                    "spot_emit_unix_ns": self.spot_emit_unix_ns,
                                    "label": None, "note": self.note}
        else:
            sp = self.span
            meta = {"label": c.label, "probs": c.probs, "aus": c.aus,
                    "label_from_aus": c.label_from_aus, "intensity": c.intensity,
                    "interval": {"onset_ns": sp.onset_ns, "apex_ns": sp.apex_ns,
                                 "offset_ns": sp.offset_ns},
                    "kind": sp.kind, "spot_score": sp.score, "spotter": sp.spotter,
                    "model": c.model, "latency_ms": c.latency_ms,
                    # Wall clocks along the way, so a subscriber can split an event's
                    # latency into spot -> classify transport, batching + inference,
                    # and publishing.
                    "spot_emit_unix_ns": self.spot_emit_unix_ns,
                    "clip_arrived_unix_ns": c.clip_arrived_unix_ns,
                    "classified_unix_ns": c.classified_unix_ns}
        return Message(wire.EVENT, self.stream, self.seq, self.pts_ns, meta=meta,
                       track=self.track)

    @classmethod
    def from_message(cls, msg: Message) -> Event:
        _expect(msg, wire.EVENT)
        m = msg.meta
        interval = _optional_dict(m, "interval", "event")
        if interval is None:  # spotting-only
            return cls(msg.stream, msg.seq, msg.pts_ns, _track(msg),
                       Span.from_meta(m, "event"), None,
                       _optional_number(m, "after_offset_ms", "event"),
                       _optional_int(m, "spot_emit_unix_ns", "event"),
                       _optional_str(m, "note", "event"))
        span = Span.from_meta({**interval, "score": m.get("spot_score"),
                               "kind": m.get("kind"), "spotter": m.get("spotter")}, "event")
        label = _optional_str(m, "label", "event")
        if label is None:
            raise WireError("event message: a classified event without a label")
        c = Classification(label, dict(_optional_dict(m, "probs", "event") or {}),
                           _optional_dict(m, "aus", "event"),
                           _optional_str(m, "label_from_aus", "event"),
                           m.get("intensity"), dict(_optional_dict(m, "model", "event") or {}),
                           dict(_optional_dict(m, "latency_ms", "event") or {}),
                           _optional_int(m, "clip_arrived_unix_ns", "event"),
                           _optional_int(m, "classified_unix_ns", "event"))
        return cls(msg.stream, msg.seq, msg.pts_ns, _track(msg), span, c,
                   None, _optional_int(m, "spot_emit_unix_ns", "event"))
