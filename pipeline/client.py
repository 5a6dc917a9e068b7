"""A small Python client for the events and records a pipeline publishes.

Example (with a pipeline running ``configs/examples/capture_file.yaml``)::

    from pipeline.client import EventSubscriber

    with EventSubscriber("tcp://127.0.0.1:5560", streams=["grid"]) as events:
        for event in events:
            print(event["type"], event["stream"], event["seq"], event["pts_ns"])
            if event["type"] == "end_of_stream":
                break

Replay (``docs/protocol.md``, "Replay"): records of a publish stage with its event log
on carry ``event_seq``. The client remembers the last one it handed out; when a live
record skips seqs (it joined late, fell behind its high-water mark, or the publisher
restarted and the SUB socket reconnected) or when nothing arrives for ``catchup_s``,
it asks the replay endpoint for the missing records, hands them out first and drops
live records it already has: every record exactly once, in ``event_seq`` order. Pass
``from_seq`` to start from the log (0: everything it holds) instead of from the
first live record; ``last_seq`` is what to pass after a restart of the subscriber.

Runs: every record carries the ``run_id`` of the pipeline run that published it. By
default each run has a log of its own whose ``event_seq`` starts at 0; a subscriber
that stays connected while the pipeline is started again notices the new run id and
takes the new run's records from its first (``runs_seen`` counts the changes). With
``event_log.resume: true`` the runs share one log and ``event_seq`` simply goes on.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

import zmq

from pipeline.runtime.keys import CurveKeys
from pipeline.runtime.sockets import open_socket
from pipeline.stages.publish.eventlog import replay_endpoint

log = logging.getLogger(__name__)

IDLE_REQUEST_WAIT_S = 0.2  # an idle catch-up does not wait long for an absent publisher


class EventSubscriber:
    """Subscribe to a publish stage; iterate over its JSON records as dicts.

    Args:
        endpoint: the publish stage's ``bind`` address, e.g. ``tcp://127.0.0.1:5560``.
        streams: only these stream ids (exact match; ZeroMQ's topic filter matches
            prefixes, so ``cam1`` would also let ``cam10`` through; the client checks).
            With replay on, every stream is received (gaps are found in the whole
            pipeline's ``event_seq``) and the others are skipped here.
        timeout_s: iteration stops after this long without a message (None: never).
        hwm: messages buffered here before ZeroMQ drops the newest.
        from_seq: replay the log from this ``event_seq`` before going live (None: start
            with the first live record).
        replay: True: the replay endpoint next to ``endpoint`` (port + 1, or
            ``<bind>.replay``); a string: that endpoint; False: live only, no gap filling.
        request_timeout_s: how long a gap waits for the replay endpoint's answer.
        catchup_s: after this long without a live record, ask for any missed tail.
        curve: CURVE keys for a publisher whose YAML has ``security:``:
            ``CurveKeys.client(server_public_key_file, own_secret_key_file)``; the
            client's public key must be in the publisher's ``authorized_keys`` folder.
    """

    def __init__(self, endpoint: str, streams: list[str] | None = None,
                 timeout_s: float | None = None, hwm: int = 100_000, *,
                 from_seq: int | None = None, replay: bool | str = True,
                 request_timeout_s: float = 5.0, catchup_s: float = 1.0,
                 curve: CurveKeys | None = None):
        self.endpoint = endpoint
        self.streams = set(streams) if streams else None
        self.timeout_s = timeout_s
        self.malformed = 0
        self.duplicates = 0  # live records already handed out (from the replay)
        self.replayed = 0    # records handed out from the replay endpoint
        self.lost = 0        # event_seqs neither live nor the log could provide
        self.last_seq: int | None = None if from_seq is None else from_seq - 1
        self.run_id: str | None = None  # the pipeline run of the last record handed out
        self.runs_seen = 0             # runs after the first (a pipeline started again)
        self.replay_endpoint = (None if replay is False else
                                replay if isinstance(replay, str) else replay_endpoint(endpoint))
        self.request_timeout_s = request_timeout_s
        self.catchup_s = catchup_s
        self._initial = from_seq is not None and self.replay_endpoint is not None
        self._pending: deque[dict[str, Any]] = deque()
        self._request_id = 0
        self._ctx = zmq.Context()
        topics = [s.encode() for s in streams] if streams and not self.replay_endpoint else [b""]
        self._cm = open_socket(self._ctx, zmq.SUB, endpoint, bind=False, rcvhwm=hwm,
                               linger_ms=0, subscribe=topics, curve=curve)
        self.socket = self._cm.__enter__()
        self._replay_cm = None
        self._replay: zmq.Socket | None = None
        if self.replay_endpoint is not None:
            self._replay_cm = open_socket(self._ctx, zmq.DEALER, self.replay_endpoint,
                                          bind=False, sndhwm=1, linger_ms=0, immediate=True,
                                          curve=curve)
            self._replay = self._replay_cm.__enter__()

    def __enter__(self) -> EventSubscriber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._replay_cm is not None:
            self._replay_cm.__exit__(None, None, None)
            self._replay_cm = self._replay = None
        if self._cm is not None:
            self._cm.__exit__(None, None, None)
            self._cm = None
            self._ctx.term()

    # -- receiving -------------------------------------------------------------------
    def receive(self, timeout_s: float | None = None) -> dict[str, Any] | None:
        """The next record, or None if nothing arrived within ``timeout_s``."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        if self._initial:
            self._initial = False
            self._catch_up(None, self.request_timeout_s)
        while True:
            while self._pending:
                record = self._pending.popleft()
                if self.streams is None or record.get("stream") in self.streams:
                    return record
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            idle = self._replay is not None and self.last_seq is not None
            wait = left if not idle else min(self.catchup_s, left if left is not None
                                             else self.catchup_s)
            if not self.socket.poll(-1 if wait is None else int(wait * 1000), zmq.POLLIN):
                if idle:  # quiet: a tail published while we were away may be in the log
                    self._catch_up(None, IDLE_REQUEST_WAIT_S)
                continue
            parts = self.socket.recv_multipart()
            try:
                if len(parts) != 2:
                    raise ValueError("expected [topic, json object]")
                parts[0].decode()
                record = json.loads(parts[-1])
                if not isinstance(record, dict):
                    raise ValueError("expected [topic, json object]")
            except ValueError as exc:
                self.malformed += 1
                log.warning("skipped a malformed message: %s", exc)
                continue
            self._take_live(record)

    def _take_live(self, record: dict[str, Any]) -> None:
        seq = record.get("event_seq")
        if self._replay is None or not isinstance(seq, int) or isinstance(seq, bool):
            self._pending.append(record)  # no log behind this publisher: live only
            return
        run = record.get("run_id")
        if self.last_seq is None:
            self.last_seq, self.run_id = seq, run
            self._pending.append(record)
            return
        if run != self.run_id and isinstance(run, str):
            # A log of its own: last_seq -1, the gap below fills it. Unanswered, the
            # seq decides: a resumed log numbers on past every earlier record.
            if not self._new_run(run) and seq <= self.last_seq:
                self.run_id, self.last_seq = run, -1
                self.runs_seen += 1
        if seq <= self.last_seq:
            self.duplicates += 1
            return
        if seq > self.last_seq + 1:
            self._catch_up(seq, self.request_timeout_s)
            if seq <= self.last_seq:
                self.duplicates += 1
                return
            self._count_lost(seq)
        self.last_seq = seq
        self._pending.append(record)

    def _count_lost(self, seq: int) -> None:
        assert self.last_seq is not None
        missing = seq - self.last_seq - 1
        if missing > 0:
            self.lost += missing
            log.warning("event_seq %d..%d could not be recovered (not durable, or the "
                        "replay endpoint %s did not answer)", self.last_seq + 1, seq - 1,
                        self.replay_endpoint)

    def _new_run(self, run: str) -> bool:
        """The pipeline was started again. A run with a log of its own numbers from 0
        (``event_log.resume: false``, the default): start over in it. A resumed log
        carries on: keep going. The log tells which: its oldest record is of the new run,
        or it has none yet (``head_seq`` -1). False (run not taken on) when the replay
        endpoint did not answer; the next record asks again."""
        reply = self._request(0, self.request_timeout_s, limit=1)
        if reply is None:
            return False
        header, lines = reply
        try:
            first = json.loads(lines[0]) if lines else {}
        except ValueError:
            first = {}
        if not isinstance(first, dict):
            first = {}
        self.runs_seen += 1
        log.info("pipeline run %s follows %s", run, self.run_id)
        self.run_id = run
        if first.get("run_id") == run or (not lines and header.get("head_seq") == -1):
            self.last_seq = -1
        return True

    # -- replay ----------------------------------------------------------------------
    def _catch_up(self, until: int | None, wait_s: float) -> None:
        """Fetch records after ``last_seq`` (up to, not including, ``until``) from the
        log into the pending queue."""
        while True:
            nxt = 0 if self.last_seq is None else self.last_seq + 1
            if until is not None and nxt >= until:
                return
            reply = self._request(nxt, wait_s)
            if reply is None:
                return
            header, lines = reply
            run = header.get("run_id")
            if self.run_id is not None and isinstance(run, str) and run and \
                    run != self.run_id and until is None:
                if self._new_run(run):  # found by an idle check: its records next
                    continue
                return
            if self.run_id is None and isinstance(run, str) and run:
                self.run_id = run
            for line in lines:
                try:
                    record = json.loads(line)
                    seq = record["event_seq"]
                except (ValueError, KeyError, TypeError):
                    self.malformed += 1
                    continue
                if until is not None and seq >= until:
                    return
                if self.last_seq is not None and seq <= self.last_seq:
                    continue
                if self.last_seq is not None:
                    self._count_lost(seq)
                self.last_seq = seq
                self._pending.append(record)
                self.replayed += 1
            if header.get("end") or not lines:
                return

    def _request(self, from_seq: int, wait_s: float, limit: int = 1000
                 ) -> tuple[dict[str, Any], list[bytes]] | None:
        assert self._replay is not None
        self._request_id += 1
        body = {"v": 1, "type": "replay", "from_seq": from_seq, "limit": limit,
                "id": self._request_id}
        deadline = time.monotonic() + wait_s
        # IMMEDIATE: nothing is queued for a publisher that is not connected, so a
        # restarting one is waited for here rather than sent a stale request later.
        if not self._replay.poll(int(wait_s * 1000), zmq.POLLOUT):
            return None
        try:
            self._replay.send(json.dumps(body).encode(), zmq.NOBLOCK)
        except zmq.Again:
            return None
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self._replay.poll(int(left * 1000), zmq.POLLIN):
                # An idle check that finds the publisher busy is routine; a gap that
                # cannot be filled is not (it is counted as lost and logged there).
                log.debug("replay endpoint %s did not answer within %.1fs",
                          self.replay_endpoint, wait_s)
                return None
            parts = self._replay.recv_multipart()
            try:
                header = json.loads(parts[0])
            except ValueError:
                self.malformed += 1
                continue
            if not isinstance(header, dict) or header.get("id") != self._request_id:
                continue  # the late answer to an earlier request
            if header.get("type") != "replay":
                log.warning("replay endpoint refused: %s", header.get("error"))
                return None
            return header, parts[1:]

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
