"""A small Python client for the events and records a pipeline publishes.

Example (with a pipeline running ``configs/examples/capture_file.yaml``)::

    from pipeline.client import EventSubscriber

    with EventSubscriber("tcp://127.0.0.1:5560", streams=["grid"]) as events:
        for event in events:
            print(event["type"], event["stream"], event["seq"], event["pts_ns"])
            if event["type"] == "end_of_stream":
                break
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import zmq

from pipeline.sockets import open_socket

log = logging.getLogger(__name__)


class EventSubscriber:
    """Subscribe to a publish stage; iterate over its JSON records as dicts.

    Args:
        endpoint: the publish stage's ``bind`` address, e.g. ``tcp://127.0.0.1:5560``.
        streams: only these stream ids (exact match; ZeroMQ's topic filter matches
            prefixes, so ``cam1`` would also let ``cam10`` through; the client checks).
        timeout_s: iteration stops after this long without a message (None: never).
        hwm: messages buffered here before ZeroMQ drops the newest.
    """

    def __init__(self, endpoint: str, streams: list[str] | None = None,
                 timeout_s: float | None = None, hwm: int = 100_000):
        self.endpoint = endpoint
        self.streams = set(streams) if streams else None
        self.timeout_s = timeout_s
        self.malformed = 0
        self._ctx = zmq.Context()
        topics = [s.encode() for s in streams] if streams else [b""]
        self._cm = open_socket(self._ctx, zmq.SUB, endpoint, bind=False, rcvhwm=hwm,
                               linger_ms=0, subscribe=topics)
        self.socket = self._cm.__enter__()

    def __enter__(self) -> EventSubscriber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._cm is not None:
            self._cm.__exit__(None, None, None)
            self._cm = None
            self._ctx.term()

    def receive(self, timeout_s: float | None = None) -> dict[str, Any] | None:
        """The next record, or None if nothing arrived within ``timeout_s``."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            wait = -1 if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
            if not self.socket.poll(wait, zmq.POLLIN):
                return None
            parts = self.socket.recv_multipart()
            try:
                topic = parts[0].decode()
                record = json.loads(parts[-1])
                if len(parts) != 2 or not isinstance(record, dict):
                    raise ValueError("expected [topic, json object]")
            except ValueError as exc:
                self.malformed += 1
                log.warning("skipped a malformed message: %s", exc)
                continue
            if self.streams is None or topic in self.streams:
                return record

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while True:
            record = self.receive(self.timeout_s)
            if record is None:
                return
            yield record

    def until_end(self, streams: list[str]) -> Iterator[dict[str, Any]]:
        """Iterate until every stream in ``streams`` has sent its end_of_stream."""
        pending = set(streams)
        for record in self:
            yield record
            if record.get("type") == "end_of_stream":
                pending.discard(record.get("stream"))
                if not pending:
                    return
