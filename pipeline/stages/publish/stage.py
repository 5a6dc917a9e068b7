"""Publish: turn what reaches the end of the pipeline into JSON on a PUB socket.

Topic = stream id, body = one JSON object (see ``docs/protocol.md``). Any ZeroMQ
client in any language can subscribe. A PUB socket never blocks: a subscriber that
falls more than ``hwm`` messages behind loses the newest ones, and one that joins
late misses what went before (set ``wait_subscribers`` to hold the pipeline until
the expected subscribers have joined).

With the event log on (the default), every record first gets the pipeline's next
``event_seq`` and is appended to the log (``pipeline/stages/publish/eventlog.py``), then
published; a ROUTER (:class:`ReplayServer`) answers "records from seq N" from the log, so a
subscriber that joined late, fell behind or reconnected fills its gap exactly
(``pipeline/client.py`` does it by itself).

A stream re-read after a middle stage restarted (a new ``epoch``) repeats a little of
what was already published; :class:`~pipeline.stages.publish.replay_filter.ReplayedRecordFilter`
drops those repeats before the log, so each record goes out once.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import zmq

from pipeline.config import PublishSettings
from pipeline.messages import EndOfStream, Event
from pipeline.runtime import wire
from pipeline.runtime.sockets import count_subscribers, open_socket
from pipeline.runtime.stage import Stage
from pipeline.runtime.wire import Message
from pipeline.stages.publish.eventlog import EventLog, LogReader, replay_endpoint, seq_of
from pipeline.stages.publish.replay_filter import ReplayedRecordFilter

CAPTURE_ONLY_NOTE = "capture-only record: no analysis stage in this pipeline"
REPLAY_VERSION = 1
MAX_REPLAY_LIMIT = 10_000
# After the last stream ended, keep answering replay requests while clients are still
# catching up (one was sent records within this long), so a subscriber's final gap can
# be filled; idle checks that find nothing new do not hold the stage.
REPLAY_LINGER_S = 2.0
REPLAY_LINGER_MAX_S = 8.0  # under supervisor.stop_timeout_s (10 s by default)
# Records read back from the log's tail at start, to know what a re-read repeats.
FILTER_MEMORY_RECORDS = 5000
RUN_DIR = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")  # control.new_run_id()


def record_of(msg: Message) -> dict[str, Any]:
    """The JSON object published for one message."""
    base = {"stream": msg.stream, "seq": msg.seq, "pts_ns": msg.pts_ns, "epoch": msg.epoch}
    if msg.kind == wire.EOS:
        end = EndOfStream.from_message(msg)
        rec = {"type": "end_of_stream", **base, "reason": end.reason}
        if end.failed:  # a stage's end-of-stream hook raised (runtime/runner.py)
            rec["failed"] = end.failed
        return rec
    if msg.kind == wire.EVENT:
        # Checked as an Event (a malformed one is dropped and counted); published with
        # every meta key, so a newer producer's extra fields reach subscribers.
        Event.from_message(msg)
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


def answer_replay(body: bytes, reader: LogReader, head_seq: int,
                  run_id: str = "") -> list[bytes]:
    """The reply frames to one replay request (``docs/protocol.md``, "Replay"):
    ``[header JSON, record, record, ...]``; a bad request gets ``type: error``."""
    try:
        req = json.loads(body)
        if not isinstance(req, dict):
            raise ValueError("a request is a JSON object")
    except ValueError as exc:
        return [json.dumps({"v": REPLAY_VERSION, "type": "error",
                            "error": f"not a JSON object: {exc}"}).encode()]
    rid = req.get("id")
    from_seq, limit = req.get("from_seq"), req.get("limit", 1000)
    problem = None
    if req.get("v") != REPLAY_VERSION:
        problem = f"unsupported version {req.get('v')!r}, want {REPLAY_VERSION}"
    elif req.get("type") != "replay":
        problem = f"unknown request type {req.get('type')!r}, want 'replay'"
    elif not isinstance(from_seq, int) or isinstance(from_seq, bool) or from_seq < 0:
        problem = f"from_seq must be a non-negative integer, got {from_seq!r}"
    elif (not isinstance(limit, int) or isinstance(limit, bool)
          or not 1 <= limit <= MAX_REPLAY_LIMIT):
        problem = f"limit must be an integer in 1..{MAX_REPLAY_LIMIT}, got {limit!r}"
    if problem is not None:
        return [json.dumps({"v": REPLAY_VERSION, "type": "error", "id": rid,
                            "error": problem}, default=str).encode()]
    chunk = reader.read(from_seq, limit)
    header = {"v": REPLAY_VERSION, "type": "replay", "id": rid, "from_seq": from_seq,
              "count": len(chunk.lines), "next_seq": chunk.next_seq, "end": chunk.end,
              "first_seq": chunk.first_seq, "head_seq": head_seq, "run_id": run_id,
              "damaged": chunk.damaged}
    return [json.dumps(header, default=str).encode(), *chunk.lines]


def run_log_dir(base: Path, run_id: str, resume: bool, keep_runs: int) -> Path:
    """Where this run's event log lives: ``base`` itself when runs resume one log,
    else ``base/<run id>`` (event_seq from 0, nothing carried over from an earlier run),
    the oldest other runs' folders deleted beyond ``keep_runs``."""
    if resume:
        return base
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory = base / run_id
    if not directory.exists():  # a publish restarted within the run keeps its log
        earlier = sorted(p for p in base.iterdir() if p.is_dir() and RUN_DIR.match(p.name))
        for old in earlier[:max(0, len(earlier) - keep_runs)]:
            shutil.rmtree(old, ignore_errors=True)
    return directory


class ReplayServer:
    """A thread serving replay requests from the log on its own ROUTER socket."""

    def __init__(self, zctx: zmq.Context, endpoint: str, directory: Path,
                 head: Callable[[], int], log: Any, run_id: str = ""):
        self.endpoint = endpoint
        self.run_id = run_id
        self.directory = directory
        self.head = head
        self.log = log
        self.last_request = 0.0
        self.requests = 0
        self._zctx = zctx
        self._stop = threading.Event()
        self._bound = threading.Event()
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._serve, name="replay", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._bound.wait(10)
        if self._error is not None:
            raise self._error

    def _serve(self) -> None:
        reader = LogReader(self.directory)
        try:
            cm = open_socket(self._zctx, zmq.ROUTER, self.endpoint, bind=True,
                             sndhwm=100, rcvhwm=100, linger_ms=0,
                             max_message_bytes=64 << 10)  # a request is a few bytes
            sock = cm.__enter__()
        except Exception as exc:  # reported by start() in the stage's thread
            self._error = exc
            self._bound.set()
            return
        self._bound.set()
        try:
            while not self._stop.is_set():
                if not sock.poll(100, zmq.POLLIN):
                    continue
                parts = sock.recv_multipart()
                self.requests += 1
                try:
                    reply = answer_replay(parts[-1], reader, self.head(), self.run_id)
                except OSError as exc:  # e.g. a segment deleted by retention meanwhile
                    self.log.warning("replay request failed: %s", exc)
                    reply = [json.dumps({"v": REPLAY_VERSION, "type": "error",
                                         "error": f"reading the log failed: {exc}"}).encode()]
                if len(reply) > 1:  # records went out: a client is catching up
                    self.last_request = time.monotonic()
                try:
                    sock.send_multipart([parts[0], *reply], flags=zmq.NOBLOCK)
                except zmq.ZMQError:  # the client is gone or flooding: it asks again
                    pass
        finally:
            cm.__exit__(None, None, None)

    def close(self) -> None:
        # Clients still catching up get their answers before the process exits.
        give_up = time.monotonic() + REPLAY_LINGER_MAX_S
        while (time.monotonic() - self.last_request < REPLAY_LINGER_S
               and time.monotonic() < give_up):
            time.sleep(0.1)
        self._stop.set()
        self._thread.join(10)


class PublishStage(Stage[PublishSettings]):
    def setup(self) -> None:
        s = self.settings
        # XPUB rather than PUB: the same fan-out, but subscriptions are visible, so the
        # stage can wait for its expected subscribers (no slow-joiner loss).
        self.pub = self.ctx.open_socket(zmq.XPUB, s.bind, bind=True, sndhwm=s.hwm)
        self.pub.setsockopt(zmq.XPUB_VERBOSE, 1)
        self.subscriber_drops = 0
        if s.event_log.enabled:
            # A subscriber at its high-water mark makes the send fail (NODROP) instead
            # of ZeroMQ dropping silently: the drop is counted and logged, and every
            # subscriber fills the gap from the log (pipeline/client.py does it).
            self.pub.setsockopt(zmq.XPUB_NODROP, 1)
        self.subscribers = 0
        self.events: EventLog | None = None
        self.replay: ReplayServer | None = None
        self.repeats = ReplayedRecordFilter()
        el = s.event_log
        if el.enabled:
            directory = run_log_dir(el.dir or self.ctx.config.run_dir() /
                                    f"{self.ctx.name}-events", self.ctx.run_id, el.resume,
                                    el.keep_runs)
            self.events = EventLog(directory, fsync=el.fsync,
                                   fsync_interval_ms=el.fsync_interval_ms,
                                   segment_bytes=el.segment_bytes,
                                   retain_bytes=el.retain_bytes)
            events = self.events
            for _finding in events.damage:  # logged by the log itself; counted here
                self.ctx.metrics.count_error("event_log")
            endpoint = el.replay_bind or replay_endpoint(s.bind)
            self.replay = ReplayServer(self.ctx.zmq, endpoint, directory,
                                       lambda: events.next_seq - 1, self.log,
                                       self.ctx.run_id)
            try:
                self.replay.start()
            except zmq.ZMQError as exc:  # records are still logged and published live
                self.log.error("replay endpoint %s: %s; subscribers cannot fill gaps "
                               "(set stages.%s.event_log.replay_bind)", endpoint, exc,
                               self.ctx.name)
                self.replay = None
            self.log.info("run %s: event log %s (next event_seq %d, fsync %s%s); replay "
                          "on %s", self.ctx.run_id, directory, events.next_seq, el.fsync,
                          ", resumed" if el.resume else "", endpoint)
            self._remember_log_tail(directory, events.next_seq)
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

    def _remember_log_tail(self, directory: Path, next_seq: int) -> None:
        """A restarted publish learns what this run published, so a re-read that follows
        its restart does not publish it twice: every event and end-of-stream of the run
        (a re-read from a stream's start repeats them all), and the per-frame records of
        the log's tail (the highest seqs are the recent ones)."""
        if next_seq == 0:
            return
        reader = LogReader(directory)
        tail = max(0, next_seq - FILTER_MEMORY_RECORDS)
        seq = 0
        while seq < next_seq:
            chunk = reader.read(seq, MAX_REPLAY_LIMIT)
            for line in chunk.lines:
                if (b'"type":"event"' not in line and b'"type":"end_of_stream"' not in line
                        and (seq_of(line) or 0) < tail):
                    continue  # an old per-frame record: not parsed
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                # Epochs are per run: a resumed log's earlier runs repeat nothing.
                if isinstance(rec, dict) and rec.get("run_id") == self.ctx.run_id:
                    self.repeats.remember(rec, int(rec.get("epoch", 0) or 0))
            if not chunk.lines or chunk.next_seq <= seq:
                break
            seq = chunk.next_seq

    def _drain_subscriptions(self) -> None:
        self.subscribers = count_subscribers(self.pub, self.subscribers)

    def _publish(self, msg: Message) -> None:
        self._drain_subscriptions()
        body = record_of(msg)
        if not self.repeats.admit(body, msg.epoch):  # published before the re-read
            self.ctx.metrics.count_drop(msg.stream, "repeat")
            return
        body["run_id"] = self.ctx.run_id
        body["published_unix_ns"] = time.time_ns()  # for latency; pts stays the source's
        if msg.kind == wire.EVENT:
            self._observe_latency(body)
        if self.events is not None:  # durable first, then live
            failures = self.events.failures
            data = self.events.append(body)
            if self.events.failures != failures:
                self.ctx.metrics.count_error(msg.stream)
        else:
            data = json.dumps(body).encode()
        try:
            self.pub.send_multipart([msg.stream.encode(), data], flags=zmq.NOBLOCK)
        except zmq.Again:  # a slow subscriber is full (only with the event log on)
            self.subscriber_drops += 1
            self.ctx.metrics.count_drop(msg.stream, "subscriber_hwm")
            if self.subscriber_drops in (1, 100, 10_000) or self.subscriber_drops % 100_000 == 0:
                self.log.warning("%d record(s) not sent live: a subscriber is %d records "
                                 "behind (stages.%s.hwm); they are in the event log for "
                                 "replay", self.subscriber_drops, self.settings.hwm,
                                 self.ctx.name)
            return
        self.ctx.metrics.count_out(msg.stream)

    def _observe_latency(self, event: dict[str, Any]) -> None:
        """The parts of an event's latency, from the wall clocks it carries (absent
        from a spotting-only event: only its spot -> publish total)."""
        m = self.ctx.metrics
        spot = event.get("spot_emit_unix_ns")
        arrived = event.get("clip_arrived_unix_ns")
        classified = event.get("classified_unix_ns")
        published = event["published_unix_ns"]
        for name, start, end in (("spot_to_classify_seconds", spot, arrived),
                                 ("classify_seconds", arrived, classified),
                                 ("classify_to_publish_seconds", classified, published),
                                 ("event_seconds", spot, published)):
            if isinstance(start, int) and isinstance(end, int) and end >= start:
                m.observe(name, (end - start) / 1e9)

    def process(self, msg: Message) -> Iterable[Message]:
        self._publish(msg)
        return ()

    def on_stream_end(self, msg: Message) -> Iterable[Message]:
        self._publish(msg)
        return ()

    def next_tick_s(self) -> float | None:
        return self.events.sync_due_in_s() if self.events is not None else None

    def tick(self) -> Iterable[Message]:
        if self.events is not None:
            try:
                self.events.sync_if_due()
            except OSError as exc:
                self.log.error("event log fdatasync failed: %s", exc)
        return ()

    def close(self) -> None:
        if self.subscriber_drops:
            self.log.warning("this run: %d record(s) were not sent live to a slow "
                             "subscriber; the event log holds them", self.subscriber_drops)
        if self.replay is not None:
            self.replay.close()
        if self.events is not None:
            self.events.close()
