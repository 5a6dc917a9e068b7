"""Publish: turn what reaches the end of the pipeline into JSON on a PUB socket.

Topic = stream id, body = one JSON object (see ``docs/protocol.md``). Any ZeroMQ
client in any language can subscribe. A PUB socket never blocks: a subscriber that
falls more than ``hwm`` messages behind loses the newest ones, and one that joins
late misses what went before (set ``wait_subscribers`` to hold the pipeline until
the expected subscribers have joined).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

import zmq

from pipeline import wire
from pipeline.stage import Stage
from pipeline.wire import Message

CAPTURE_ONLY_NOTE = "capture-only record: no analysis stage in this pipeline"


def record_of(msg: Message) -> dict[str, Any]:
    """The JSON object published for one message."""
    base = {"stream": msg.stream, "seq": msg.seq, "pts_ns": msg.pts_ns}
    if msg.kind == wire.EOS:
        return {"type": "end_of_stream", **base, "reason": msg.meta.get("reason", "")}
    if msg.kind == wire.EVENT:
        return {**msg.meta, "type": "event", **base, "track": msg.track}
    if msg.kind == wire.TRACK:
        return {"type": "track", **base, "track": msg.track, **msg.meta}
    if msg.kind == wire.FACE:  # an aligned face: what a pipeline ending at align shows
        return {"type": "face", **base, "track": msg.track, **msg.meta,
                "shapes": {name: list(arr.shape) for name, arr in msg.buffers.items()}}
    shapes = {name: list(arr.shape) for name, arr in msg.buffers.items()}
    rec = {"type": f"{msg.kind}_record", **base, "shapes": shapes}
    if msg.kind == wire.FRAME:
        rec["note"] = CAPTURE_ONLY_NOTE
    return rec


class PublishStage(Stage):
    def setup(self) -> None:
        s = self.ctx.settings
        # XPUB rather than PUB: the same fan-out, but subscriptions are visible, so the
        # stage can wait for its expected subscribers (no slow-joiner loss).
        self.pub = self.ctx.open_socket(zmq.XPUB, s.bind, bind=True, sndhwm=s.hwm)
        self.pub.setsockopt(zmq.XPUB_VERBOSE, 1)
        self.subscribers = 0
        if s.wait_subscribers:
            deadline = time.monotonic() + s.wait_subscribers_timeout_s
            while self.subscribers < s.wait_subscribers and not self.ctx.stop.is_set():
                if time.monotonic() > deadline:
                    self.log.warning("only %d of %d subscribers joined in %.0fs; going on",
                                     self.subscribers, s.wait_subscribers,
                                     s.wait_subscribers_timeout_s)
                    break
                if self.pub.poll(100, zmq.POLLIN):
                    self._drain_subscriptions()
        self.log.info("publishing on %s", s.bind)

    def _drain_subscriptions(self) -> None:
        while True:
            try:
                sub = self.pub.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            if sub[:1] == b"\x01":
                self.subscribers += 1
            elif sub[:1] == b"\x00":
                self.subscribers = max(0, self.subscribers - 1)

    def _publish(self, msg: Message) -> None:
        self._drain_subscriptions()
        body = record_of(msg)
        body["published_unix_ns"] = time.time_ns()  # for latency; pts stays the source's
        self.pub.send_multipart([msg.stream.encode(), json.dumps(body).encode()])
        self.ctx.metrics.count_out(msg.stream)

    def process(self, msg: Message) -> Iterable[Message]:
        self._publish(msg)
        return ()

    def on_stream_end(self, msg: Message) -> Iterable[Message]:
        self._publish(msg)
        return ()
