"""What every hop carries besides data: a stream's :class:`Watermark` and its
:class:`EndOfStream`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.messages.fields import expect
from pipeline.runtime import wire
from pipeline.runtime.wire import Message


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
        expect(msg, wire.WATERMARK)
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
        expect(msg, wire.EOS)
        failed = msg.meta.get("failed")
        return cls(msg.stream, msg.seq, msg.pts_ns, str(msg.meta.get("reason") or ""),
                   None if not failed else str(failed), msg.epoch)

    def failing(self, stage: str, exc: BaseException) -> EndOfStream:
        """This end, marked as failed in ``stage`` (the end still reaches the next
        stage, or the run would wait for it forever)."""
        return EndOfStream(self.stream, self.seq, self.pts_ns, self.reason,
                           f"{stage}: {exc!r}"[:500], self.epoch)
