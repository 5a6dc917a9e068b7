"""The control channel between the supervisor and its stage processes.

The supervisor binds a ROUTER; each stage process connects a DEALER whose identity is
``stage.replica@pid``. Messages are single JSON frames; every one a stage sends carries
the run's id (``run``, from ``MESTREAM_RUN_ID``) and its ``pid``, and the supervisor acts
only on messages from the process it started for this run: a stage left over from an
earlier run (its supervisor was killed) that reconnects to the same endpoint is ignored
and cannot stop the new run's stages (its identity differs too, so ZeroMQ does not
refuse the new stage's connection as a duplicate).

- stage -> supervisor: ``ready`` (sockets bound and connected), ``heartbeat`` (every
  ``supervisor.heartbeat_s``, with counters and per-stream progress), ``drained`` (every
  stream it expects has ended; it keeps serving until released), ``done`` (about to
  exit 0).
- supervisor -> stage: ``go`` (every stage is ready: the first frame may move), with
  ``resume`` (per stream, the seq to restart from after a crash) and ``epochs`` (per
  stream, the current epoch: older ones' messages are stale); ``rewind`` (to capture:
  re-read these streams from these frames, as this epoch: a stage downstream was
  restarted); ``release`` (the last stage has every stream's end: exit).

A stage run on its own (``mestream stage``) has no control channel and starts at once.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from typing import Any

import zmq

from pipeline.runtime.sockets import open_socket

log = logging.getLogger(__name__)


RUN_ID_ENV = "MESTREAM_RUN_ID"
EXIT_NOT_RETRYABLE = 78  # EX_CONFIG (sysexits.h): a stage a restart cannot help


def new_run_id() -> str:
    """A run's identity: its start time (UTC, sortable) and 6 random hex digits; also
    the name of its event log folder, so it holds only ``[0-9A-Za-z-]``."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


def identity(stage: str, replica: int) -> str:
    return f"{stage}.{replica}"


def route(stage: str, replica: int, pid: int) -> bytes:
    """The control DEALER identity of one stage process."""
    return f"{identity(stage, replica)}@{pid}".encode()


def parse_route(raw: bytes) -> tuple[str, int] | None:
    """``(stage.replica, pid)`` of a control identity, None if it is not one."""
    name, sep, pid = raw.decode(errors="replace").rpartition("@")
    return (name, int(pid)) if sep and pid.isdigit() else None


class ControlClient:
    """A stage's end of the control channel. Owned by one thread (the stage's main
    loop); heartbeats from other threads go through :meth:`heartbeat` under a lock."""

    def __init__(self, ctx: zmq.Context, endpoint: str | None, stage: str, replica: int,
                 run_id: str = ""):
        self.endpoint = endpoint
        self.name = identity(stage, replica)
        self.run_id = run_id
        self._lock = threading.Lock()
        self._cm = None
        self._sock: zmq.Socket | None = None
        if endpoint:
            self._cm = open_socket(ctx, zmq.DEALER, endpoint, bind=False,
                                   identity=route(stage, replica, os.getpid()),
                                   linger_ms=500)
            self._sock = self._cm.__enter__()

    @property
    def supervised(self) -> bool:
        return self._sock is not None

    def _send(self, body: dict[str, Any]) -> None:
        if self._sock is None:
            return
        body = {"id": self.name, "pid": os.getpid(), "run": self.run_id, **body}
        with self._lock:
            try:
                self._sock.send(json.dumps(body).encode(), zmq.NOBLOCK)
            except zmq.Again:
                log.debug("control channel full; %s message dropped", body["type"])

    def ready_and_wait(self, stop: threading.Event, timeout_s: float) -> dict[str, Any]:
        """Report ready, then block until the supervisor says go. Returns the go
        message (``{}`` without a supervisor)."""
        if self._sock is None:
            return {}
        self._send({"type": "ready"})
        deadline = time.monotonic() + timeout_s
        while not stop.is_set():
            if self._sock.poll(100, zmq.POLLIN):
                msg = json.loads(self._sock.recv())
                if msg.get("type") == "go":
                    return msg
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name}: no go from the supervisor in {timeout_s}s")
        return {}

    def commands(self) -> list[dict[str, Any]]:
        """Messages the supervisor sent since the last call (``rewind``, ``release``);
        never blocks."""
        if self._sock is None:
            return []
        out = []
        with self._lock:  # heartbeats from producer threads send on the same socket
            while True:
                try:
                    raw = self._sock.recv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                try:
                    msg = json.loads(raw)
                except ValueError:
                    log.warning("%s: malformed control message dropped", self.name)
                    continue
                if isinstance(msg, dict):
                    out.append(msg)
        return out

    def drained(self) -> None:
        self._send({"type": "drained"})

    def heartbeat(self, metrics: dict[str, Any], progress: dict[str, int]) -> None:
        self._send({"type": "heartbeat", "metrics": metrics, "progress": progress})

    def done(self, metrics: dict[str, Any], progress: dict[str, int]) -> None:
        self._send({"type": "done", "metrics": metrics, "progress": progress})

    def close(self) -> None:
        if self._cm is not None:
            self._cm.__exit__(None, None, None)
            self._cm = self._sock = None
