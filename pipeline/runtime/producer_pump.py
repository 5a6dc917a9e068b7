"""How the runner sends a producer stage's messages (capture: a stage with no input).

The producer's threads queue per stream in outboxes (:mod:`pipeline.runtime.outbox`);
the runner's thread sends them through its own links, as for every other stage: a few
of each stream's messages in turn (fairness across streams), never waiting on a full
link, so one slow replica of the next stage holds back only the streams routed to it.
It also keeps each end-of-stream until acknowledged, resending it, and gives it up after
``transport.ack_timeout_s`` (the next stage is gone or wedged).
"""

from __future__ import annotations

import logging
import time

import zmq

from pipeline.runtime import wire
from pipeline.runtime.links import POLL_MS, SEND_GIVE_UP_S, Output, Sender
from pipeline.runtime.metrics import StageMetrics
from pipeline.runtime.outbox import Outbox
from pipeline.runtime.stage import Stage

log = logging.getLogger(__name__)

PUMP_BURST = 4  # a producer's messages sent per stream in turn
FULL_LINK_POLL_MS = 5  # how long to wait on full links before looking again
PUMP_SLICE_S = 0.02  # sending without a break (heartbeats and commands wait this long)


class ProducerPump:
    """A producer's outboxes through the runner's output."""

    def __init__(self, out: Output | None, metrics: StageMetrics, progress: dict[str, int],
                 ack_timeout_s: float):
        self.out = out
        self.metrics = metrics
        self.progress = progress  # stream -> last frame seq sent (a restart resumes there)
        self.ack_timeout_s = ack_timeout_s

    def pump(self, stage: Stage) -> None:
        """Send what the producer's threads queue, for up to PUMP_SLICE_S (then the
        runner's loop has its turn: heartbeats, commands); with nothing sent, wait for a
        full link to drain or for a new message."""
        if self.out is None:
            stage.wait_ready(POLL_MS / 1000)
            return
        boxes = stage.outboxes()
        for sid, box in boxes.items():  # what waits to be sent (a gauge for monitoring)
            self.metrics.gauge("queue_depth", sid, len(box))
        end = time.monotonic() + PUMP_SLICE_S
        while True:
            sent, full = self._round(boxes)
            if not sent:
                break
            if time.monotonic() > end:
                return
        if full:  # briefly: another stream may meanwhile queue for a free link
            poller = zmq.Poller()
            for sender in full:
                poller.register(sender.sock, zmq.POLLOUT)
            poller.poll(FULL_LINK_POLL_MS)
        else:
            stage.wait_ready(POLL_MS / 1000)

    def _round(self, boxes: dict[str, Outbox]) -> tuple[int, list[Sender]]:
        """One turn over the streams: a few of each one's messages, skipping those whose
        link is full. Returns how many were sent and the full links."""
        assert self.out is not None
        full: list[Sender] = []
        sent = 0
        for sid, box in boxes.items():
            sender = self.out.sender_for(sid)
            if any(sender is f for f in full):
                continue
            for _ in range(PUMP_BURST):
                msg = box.peek()
                if msg is None:
                    break
                if not sender.try_send(msg):
                    full.append(sender)
                    break
                box.pop(msg)
                sent += 1
                if msg.kind == wire.FRAME:
                    self.metrics.count_out(msg.stream)
                    self.progress[msg.stream] = msg.seq
        return sent, full

    def awaiting_acks(self) -> bool:
        """Whether an end-of-stream sent still awaits its ack (read and resent here);
        one waiting longer than the ack timeout is given up, counted and logged."""
        if self.out is None:
            return False
        self.out.service()
        for sender in self.out.senders:
            for sid in sender.give_up_acks(self.ack_timeout_s):
                self.metrics.count_error(sid)
                log.warning("stream %s: the next stage did not acknowledge its end within "
                            "%.0fs; its last frames may be lost", sid, self.ack_timeout_s)
        return self.out.unacked

    def flush(self, stage: Stage) -> None:
        """After a stop: send what the producer still holds (its streams' ends last),
        for up to SEND_GIVE_UP_S; frames left after that are counted as dropped."""
        deadline = time.monotonic() + SEND_GIVE_UP_S
        boxes = stage.outboxes()
        while self.out is not None and any(box.peek() is not None
                                           for box in boxes.values()):
            if time.monotonic() > deadline:
                for sid, box in boxes.items():
                    for msg in box.clear():
                        if msg.kind == wire.FRAME:
                            self.metrics.count_drop(sid, "stopped")
                break
            self.pump(stage)
