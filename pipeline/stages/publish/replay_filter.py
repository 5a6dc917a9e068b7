"""Drop what a re-read stream publishes a second time.

After a middle stage restarts, capture re-reads a file stream from the last watermark
the publish stage recorded, as a new epoch (``docs/operations.md``). The re-read starts
a little before the point where the records stopped, so some of what it yields was
already published in an earlier epoch. :class:`ReplayedRecordFilter` sits in front of
the event log and drops those, so a subscriber sees every record once:

- per-frame records (``face``, ``track``, capture-only ``frame_record``) by the frame
  seq: a record of a later epoch whose seq is at or below the highest seq of its type
  an earlier epoch published is a repeat;
- ``event`` records by identity (stream, track, interval): a later epoch's event whose
  [onset, offset] (under ``interval`` where classify puts it, :mod:`pipeline.event_record`)
  overlaps an earlier epoch's event of the same stream and face track with IoU >= 0.5
  (the MEGC matching rule) is the same expression found again. Track ids restart at 0
  when a stream is re-read, so they match for a stream with one face; with several
  faces a re-read may number them in another order (a repeat then gets through);
- ``end_of_stream``: one per stream and epoch chain.

Records of one epoch never filter each other: two faces may make the same expression
at once. The filter's memory is rebuilt from the event log's tail when publish
restarts.

Example:
    >>> f = ReplayedRecordFilter()
    >>> f.admit({"type": "track", "stream": "cam", "seq": 7}, epoch=0)
    True
    >>> f.admit({"type": "track", "stream": "cam", "seq": 7}, epoch=1)
    False
    >>> f.admit({"type": "track", "stream": "cam", "seq": 8}, epoch=1)
    True
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from pipeline.event_record import interval_of
from pipeline.spotting.interval import interval_iou

PER_FRAME_TYPES = frozenset({"face", "track", "frame_record"})
EVENT_IOU = 0.5
EVENTS_REMEMBERED = 512  # per stream: far more than one re-read window holds


@dataclass
class _StreamMemory:
    # type -> epoch -> highest seq published
    high: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))
    events: deque[tuple[int, int | None, int, int]] = field(
        default_factory=lambda: deque(maxlen=EVENTS_REMEMBERED))  # epoch, track, on, off
    ended: set[int] = field(default_factory=set)  # epochs whose end-of-stream went out


class ReplayedRecordFilter:
    """Admit each record once across the epochs of its stream."""

    def __init__(self) -> None:
        self._streams: dict[str, _StreamMemory] = defaultdict(_StreamMemory)

    def admit(self, record: dict[str, Any], epoch: int) -> bool:
        """True (and remembered) unless an earlier epoch already published it."""
        mem = self._streams[str(record.get("stream"))]
        kind = record.get("type")
        if epoch > 0 and self._repeats(mem, kind, record, epoch):
            return False
        self.remember(record, epoch)
        return True

    def remember(self, record: dict[str, Any], epoch: int) -> None:
        """Note a published record (also: one read back from the event log)."""
        mem = self._streams[str(record.get("stream"))]
        kind = record.get("type")
        seq = record.get("seq")
        if kind in PER_FRAME_TYPES and isinstance(seq, int):
            per_epoch = mem.high[kind]
            per_epoch[epoch] = max(per_epoch.get(epoch, -1), seq)
        elif kind == "event":
            span = _span(record)
            if span is not None:
                mem.events.append((epoch, _track(record), *span))
        elif kind == "end_of_stream":
            mem.ended.add(epoch)

    @staticmethod
    def _repeats(mem: _StreamMemory, kind: Any, record: dict[str, Any], epoch: int) -> bool:
        if kind in PER_FRAME_TYPES:
            earlier = [s for e, s in mem.high.get(kind, {}).items() if e < epoch]
            seq = record.get("seq")
            return bool(earlier) and isinstance(seq, int) and seq <= max(earlier)
        if kind == "event":
            span, track = _span(record), _track(record)
            return span is not None and any(
                e < epoch and _same_track(track, t) and interval_iou(*span, on, off) >= EVENT_IOU
                for e, t, on, off in mem.events)
        if kind == "end_of_stream":
            return any(e < epoch for e in mem.ended)
        return False


def _track(record: dict[str, Any]) -> int | None:
    track = record.get("track")
    return track if isinstance(track, int) and not isinstance(track, bool) else None


def _same_track(a: int | None, b: int | None) -> bool:
    return a is None or b is None or a == b


def _span(record: dict[str, Any]) -> tuple[int, int] | None:
    iv = interval_of(record)  # classify nests it under "interval"; spot does not
    return None if iv is None else (iv[0], iv[2])
