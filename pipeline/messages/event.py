"""A spotted, and usually classified, expression (classify or spot -> publish)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.errors import WireError
from pipeline.messages.clip import Span
from pipeline.messages.fields import (
    expect,
    optional_dict,
    optional_int,
    optional_number,
    optional_str,
    track,
)
from pipeline.runtime import wire
from pipeline.runtime.wire import Message


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
        expect(msg, wire.EVENT)
        m = msg.meta
        interval = optional_dict(m, "interval", "event")
        if interval is None:  # spotting-only
            return cls(msg.stream, msg.seq, msg.pts_ns, track(msg),
                       Span.from_meta(m, "event"), None,
                       optional_number(m, "after_offset_ms", "event"),
                       optional_int(m, "spot_emit_unix_ns", "event"),
                       optional_str(m, "note", "event"))
        span = Span.from_meta({**interval, "score": m.get("spot_score"),
                               "kind": m.get("kind"), "spotter": m.get("spotter")}, "event")
        label = optional_str(m, "label", "event")
        if label is None:
            raise WireError("event message: a classified event without a label")
        c = Classification(label, dict(optional_dict(m, "probs", "event") or {}),
                           optional_dict(m, "aus", "event"),
                           optional_str(m, "label_from_aus", "event"),
                           m.get("intensity"), dict(optional_dict(m, "model", "event") or {}),
                           dict(optional_dict(m, "latency_ms", "event") or {}),
                           optional_int(m, "clip_arrived_unix_ns", "event"),
                           optional_int(m, "classified_unix_ns", "event"))
        return cls(msg.stream, msg.seq, msg.pts_ns, track(msg), span, c,
                   None, optional_int(m, "spot_emit_unix_ns", "event"))
