"""A spotted interval (:class:`Span`) and its frames (:class:`Clip`, spot -> classify)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.errors import WireError
from pipeline.messages.fields import array, integer, optional_int, optional_number, track
from pipeline.runtime import wire
from pipeline.runtime.wire import Message
from pipeline.stages.spot.windowing import RESAMPLE_METHOD


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
        onset, apex, offset = (integer(meta, k, kind) for k in ("onset_ns", "apex_ns",
                                                              "offset_ns"))
        if not onset <= offset:
            raise WireError(f"{kind} message: onset_ns {onset} after offset_ns {offset}")
        return cls(onset, apex, offset, optional_number(meta, "score", kind),
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
        return cls(msg.stream, msg.seq, msg.pts_ns, track(msg),
                   array(b, "face", "clip", np.uint8, 3),
                   array(b, "eyes", "clip", np.uint8, 3),
                   array(b, "mouth", "clip", np.uint8, 3),
                   Span.from_meta(m, "clip"), optional_number(m, "after_offset_ms", "clip"),
                   *(optional_int(m, k, "clip") for k in (
                       "spot_emit_unix_ns", "source_frames", "clip_start_ns", "clip_end_ns",
                       "first_seq", "last_seq")),
                   str(m.get("resample", RESAMPLE_METHOD)))
