"""``mestream run``: start every stage as its own OS process, wire them, supervise.

- Each stage replica is a fresh interpreter (``python -m pipeline.runtime.stage_main ...``):
  spawn, never fork, so no CUDA or ZeroMQ state is inherited.
- Readiness: every stage binds and connects, reports ``ready`` on the control
  channel, and waits; only when all are ready does the supervisor send ``go``, so
  no frame moves before its consumer is listening.
- A stage that exits non-zero or stops sending heartbeats is restarted with
  exponential backoff and told where each stream had got to (``resume``). More than
  ``max_restarts`` crashes within ``restart_window_s`` stops the run, exit code 1.
- When a stage after capture crashes, the streams it handled are re-read: capture is
  told (``rewind``) to read each again from the last watermark the last stage recorded,
  as the stream's next epoch, and the restarted stage starts in that epoch, so what
  the crashed process held comes through again and nothing older gets in its way
  (``pipeline/runtime/stage.py``, docs/operations.md).
- Stages whose streams have all ended report ``drained`` and wait; once the last stage
  has drained, every stage is released and exits.
- Ctrl-C / SIGTERM: capture stages are stopped first, they send end-of-stream, the
  others drain and exit by themselves; whatever is left after ``stop_timeout_s`` is
  terminated, then killed. Children die with the supervisor (PR_SET_PDEATHSIG, SIGKILL):
  a killed supervisor leaves no orphan to disturb the next run.
- Every run has an id (``run_id``: in the log, in every control message, in every
  published record); control messages from processes not started by this run are
  ignored.
- Counters from all heartbeats are served on one Prometheus endpoint
  (``metrics.prometheus_port``) and logged every ``metrics.log_interval_s``.

Why one module over 400 lines: one state machine (start, ready, go, restart with
backoff, re-read requests, drain, stop) over the stage processes and their control
messages; the wire of those messages is ``runtime.control``.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from pipeline.config import PipelineConfig
from pipeline.native_log import is_native_noise
from pipeline.runtime.control import (
    EXIT_NOT_RETRYABLE,
    RUN_ID_ENV,
    identity,
    new_run_id,
    parse_route,
    route,
)
from pipeline.runtime.keys import secure_process
from pipeline.runtime.metrics import SnapshotCollector, summary_line
from pipeline.runtime.recovery import STREAM_ENDED, reread_from
from pipeline.runtime.sockets import open_socket

log = logging.getLogger("mestream.supervisor")


@dataclass
class Child:
    """One stage replica and what the supervisor knows of it."""

    stage: str
    replica: int
    proc: subprocess.Popen[bytes] | None = None
    ready: bool = False
    finished: bool = False
    done_at: float | None = None  # when it reported "done": its work is complete
    last_beat: float = 0.0
    crashes: collections.deque[float] = field(default_factory=collections.deque)
    restarts: int = 0
    restart_at: float | None = None
    crashed_at: float | None = None  # when the last crash was seen (for restart timing)
    last_restart_s: float | None = None  # crash -> restarted process ready, seconds
    progress: dict[str, int] = field(default_factory=dict)
    drained: bool = False  # every stream it expects has ended; waits for release
    metrics: dict[str, Any] = field(default_factory=dict)
    tail: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=20))

    @property
    def name(self) -> str:
        return identity(self.stage, self.replica)

    @property
    def route(self) -> bytes | None:
        """Its control identity (``stage.replica@pid``), None before it was started."""
        return None if self.proc is None else route(self.stage, self.replica, self.proc.pid)


_STDERR_LOCK = threading.Lock()


class Supervisor:
    def __init__(self, config: PipelineConfig, config_path: Path, overrides: list[str]):
        self.cfg = config
        self.config_path = config_path
        self.overrides = overrides
        self.children = [Child(s, r) for s in config.stages for r in range(config.replicas(s))]
        self.stopping = False
        self.failure: str | None = None
        self.started = threading.Event()  # set once every stage got go
        self.sinks = [s for s in config.stages if not config.downstream(s)]
        self.epochs: dict[str, int] = {sid: 0 for sid in config.sources}
        self.outbox: list[tuple[str, dict[str, Any]]] = []  # control messages to send
        self.released = False
        # Native libraries' info/warning lines are shown only at DEBUG (native_log.py).
        self.quiet_native = config.logging.level != "DEBUG"
        self.run_id = new_run_id()
        self.foreign_messages = 0  # control messages from processes not of this run

    # -- processes -------------------------------------------------------------------
    def _spawn(self, child: Child) -> None:
        cmd = [sys.executable, "-m", "pipeline.runtime.stage_main", child.stage,
               "--config", str(self.config_path), "--replica", str(child.replica),
               "--control", self.cfg.control_endpoint()]
        for item in self.overrides:
            cmd += ["--set", item]
        env = {**os.environ, "MESTREAM_PARENT_PID": str(os.getpid()),
               RUN_ID_ENV: self.run_id, "PYTHONUNBUFFERED": "1"}
        # A session of its own: a terminal's Ctrl-C reaches only the supervisor, which
        # then stops the stages in order instead of all at once.
        child.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, start_new_session=True)
        child.ready = child.finished = child.drained = False
        child.done_at = None
        child.last_beat = time.monotonic()
        threading.Thread(target=self._forward_stderr, args=(child, child.proc),
                         daemon=True).start()
        log.info("started %s (pid %d)", child.name, child.proc.pid)

    def _forward_stderr(self, child: Child, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            line = raw.decode(errors="replace").rstrip()
            child.tail.append(line)
            if self.quiet_native and is_native_noise(line):
                continue  # MediaPipe's C++ chatter; kept in the crash tail above
            # One write per line under a lock: print() writes the text and the newline
            # separately, and two stages' lines then ran together in the log.
            with _STDERR_LOCK:
                sys.stderr.write(line + "\n")
                sys.stderr.flush()

    def _on_exit(self, child: Child, code: int) -> None:
        if code == 0:
            child.finished = True
            log.info("%s finished", child.name)
            return
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        if child.done_at is not None:  # all its streams had ended: nothing to redo
            log.warning("%s ended with %s after finishing its streams; not restarted",
                        child.name, how)
            child.finished = True
            return
        if self.stopping or self.released:
            log.info("%s ended with %s while stopping", child.name, how)
            child.finished = True
            return
        if code == EXIT_NOT_RETRYABLE:  # a port in use, a missing file, a bad model
            last = next((t for t in reversed(child.tail) if t.strip()), "")
            self.failure = f"{child.name} cannot run: {last}"
            log.error("%s", self.failure)
            return
        now = time.monotonic()
        child.crashed_at = now
        child.crashes.append(now)
        while child.crashes and now - child.crashes[0] > self.cfg.supervisor.restart_window_s:
            child.crashes.popleft()
        sup = self.cfg.supervisor
        if len(child.crashes) > sup.max_restarts:
            last = next((t for t in reversed(child.tail) if t.strip()), "")
            self.failure = (f"stage {child.name} crashed {len(child.crashes)} times in "
                            f"{sup.restart_window_s:.0f}s (last: {how}; last output: {last})")
            log.error("%s", self.failure)
            return
        backoff = min(sup.backoff_initial_s * 2 ** (len(child.crashes) - 1), sup.backoff_max_s)
        child.restart_at = now + backoff
        log.warning("%s crashed (%s); restarting in %.1fs", child.name, how, backoff)
        if self.cfg.stages[child.stage].type != "capture":
            self._rewind_streams_of(child)

    def _sink_progress(self, sid: str) -> int:
        """Where the last stage says ``sid`` must be re-read from (its last watermark; 0
        before the first), or STREAM_ENDED. A valid config has one last stage (a stage
        feeds one stage and every stage carries every stream, :mod:`pipeline.config`);
        the loop reads that one's replica for ``sid``."""
        progress = 0
        for sink in self.sinks:
            replica = self.cfg.shard_of(sink, sid)
            child = next(c for c in self.children if c.stage == sink and c.replica == replica)
            progress = child.progress.get(sid, 0)
        return progress

    def _rewind_streams_of(self, child: Child) -> None:
        """Have capture re-read, as a new epoch, each unfinished stream the crashed
        ``child`` handled, from the last stage's watermark."""
        by_capture: dict[str, dict[str, list[int]]] = {}
        for sid in sorted(self.cfg.expected_streams(child.stage, child.replica)):
            start = reread_from(self._sink_progress(sid), self.cfg.transport.reread)
            if start is None:
                continue  # the last stage has its end: nothing was held
            self.epochs[sid] += 1
            for cap in self.children:
                if (self.cfg.stages[cap.stage].type == "capture"
                        and sid in self.cfg.sources_of(cap.stage, cap.replica)):
                    by_capture.setdefault(cap.name, {})[sid] = [start, self.epochs[sid]]
        for name, streams in by_capture.items():
            log.info("%s: re-read %s", name, ", ".join(
                f"{sid} from seq {seq} as epoch {ep}" for sid, (seq, ep) in streams.items()))
            self.outbox.append((name, {"type": "rewind", "streams": streams}))

    # -- control channel ---------------------------------------------------------------
    def _on_control(self, router: zmq.Socket) -> None:
        ident, body = router.recv_multipart()
        try:
            msg = json.loads(body)
        except ValueError:
            log.warning("malformed control message from %r", ident)
            return
        sender = parse_route(ident)
        child = None if sender is None else next(
            (c for c in self.children if c.name == sender[0]), None)
        if (child is None or not isinstance(msg, dict) or child.proc is None
                or sender is None or sender[1] != child.proc.pid
                or msg.get("pid") != child.proc.pid or msg.get("run") != self.run_id):
            # An orphan of an earlier run (or a process this supervisor did not start):
            # acting on its "done" or "ready" would steer this run's stages.
            self.foreign_messages += 1
            if self.foreign_messages in (1, 10, 100, 1000):
                log.warning("ignored %d control message(s) from a process not started by "
                            "this run (last: %r, %s)", self.foreign_messages, ident,
                            msg.get("type") if isinstance(msg, dict) else "?")
            return
        child.last_beat = time.monotonic()
        kind = msg.get("type")
        if kind == "done":
            child.done_at = time.monotonic()
        elif kind == "drained":
            if not child.drained:
                log.info("%s drained: its streams ended; it waits to be released",
                         child.name)
            child.drained = True
        if kind in ("heartbeat", "done"):
            child.metrics = msg.get("metrics") or child.metrics
            child.progress.update(msg.get("progress") or {})
        elif kind == "ready":
            child.ready = True
            if child.crashed_at is not None:
                child.last_restart_s = time.monotonic() - child.crashed_at
                child.crashed_at = None
                log.info("%s restarted: ready %.2fs after its crash was seen", child.name,
                         child.last_restart_s)
            if self.started.is_set():  # a restarted stage: let it go at once
                self._go(router, child)

    def _send(self, router: zmq.Socket, child: Child, body: dict[str, Any]) -> None:
        if child.route is not None:
            router.send_multipart([child.route, json.dumps(body).encode()])

    def _go(self, router: zmq.Socket, child: Child) -> None:
        body = {"type": "go", "resume": child.progress, "epochs": self.epochs}
        self._send(router, child, body)
        # Its heartbeat clock starts now: a stage ready early waited for the others
        # without beating (it was not yet running), which is no sign of a hang.
        child.last_beat = time.monotonic()
        if self.released:  # restarted after the end: nothing left for it to do
            self._send(router, child, {"type": "release"})
        if child.progress:
            log.info("%s resumes at %s", child.name, child.progress)

    # -- main loop -------------------------------------------------------------------
    def run(self) -> int:
        def request_stop(signum: int, _frame: Any) -> None:
            if not self.stopping:
                log.info("%s: stopping the pipeline", signal.Signals(signum).name)
            self.stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        self._serve_metrics()
        ctx = zmq.Context()
        auth = None
        try:
            # Keys are read here first, so a missing file stops the run with its YAML
            # path before any stage starts.
            auth = secure_process(ctx, self.cfg.security)
            with open_socket(ctx, zmq.ROUTER, self.cfg.control_endpoint(), bind=True,
                             sndhwm=1000, rcvhwm=10000, linger_ms=0) as router:
                return self._loop(router)
        finally:
            self._kill_all()
            if auth is not None:
                auth.stop()
            ctx.term()

    def _loop(self, router: zmq.Socket) -> int:
        sup = self.cfg.supervisor
        log.info("pipeline %s: run %s", self.cfg.name, self.run_id)
        for child in self.children:
            self._spawn(child)
        deadline = time.monotonic() + sup.startup_timeout_s
        last_log = time.monotonic()
        stop_phase_started: float | None = None
        while True:
            if router.poll(100, zmq.POLLIN):
                while router.poll(0, zmq.POLLIN):
                    self._on_control(router)
            for name, body in self.outbox:
                for child in self.children:
                    if child.name == name:
                        self._send(router, child, body)
            self.outbox.clear()
            if self.started.is_set() and not self.released and self._sinks_drained():
                log.info("the last stage has every stream's end: releasing every stage")
                self.released = True
                for child in self.children:
                    self._send(router, child, {"type": "release"})
            now = time.monotonic()
            for child in self.children:
                proc = child.proc
                if proc is not None and proc.poll() is not None and not child.finished \
                        and child.restart_at is None:
                    self._on_exit(child, proc.returncode)
                    child.ready = False
                if child.restart_at is not None and now >= child.restart_at and not self.stopping:
                    child.restart_at = None
                    child.restarts += 1
                    self._spawn(child)
                alive = child.proc is not None and child.proc.poll() is None
                if (self.started.is_set() and alive and child.ready and child.done_at is None
                        and not self.stopping
                        and now - child.last_beat > sup.heartbeat_timeout_s):
                    log.error("%s sent no heartbeat for %.0fs: killing it", child.name,
                              now - child.last_beat)
                    child.proc.kill()
                if (alive and child.done_at is not None
                        and now - child.done_at > sup.stop_timeout_s):
                    # Finished, but not exiting (a wedged library at shutdown): end it
                    # without a restart, its streams are complete.
                    log.warning("%s finished its streams %.0fs ago but has not exited: "
                                "killing it", child.name, now - child.done_at)
                    child.proc.kill()
            if self.failure is not None:
                self._stop_all()
                print(f"mestream run: {self.failure}", file=sys.stderr)
                return 1
            if not self.started.is_set():
                if all(c.ready for c in self.children):
                    for child in self.children:
                        self._go(router, child)
                    self.started.set()
                    log.info("all %d stage processes ready: go", len(self.children))
                elif now > deadline and not self.stopping:
                    waiting = [c.name for c in self.children if not c.ready]
                    self.failure = f"stages {waiting} not ready after {sup.startup_timeout_s}s"
                    continue
            if all(c.finished for c in self.children):
                log.info("pipeline %s finished", self.cfg.name)
                return 0
            if self.stopping:
                if stop_phase_started is None:
                    stop_phase_started = now
                    self._signal_stage_types(("capture",), signal.SIGTERM)
                    if not self.started.is_set():
                        self._signal_stage_types(None, signal.SIGTERM)
                elif now - stop_phase_started > sup.stop_timeout_s:
                    log.warning("stages still running %.0fs after stop; terminating",
                                sup.stop_timeout_s)
                    self._stop_all()
                    return 0
            interval = self.cfg.metrics.log_interval_s
            if interval and now - last_log >= interval:
                last_log = now
                for child in self.children:
                    if child.metrics:
                        log.info("%s", summary_line(child.metrics))

    def _sinks_drained(self) -> bool:
        """Every replica of the last stage has every stream's end (a sink restarted
        after it had them counts too: its record of them is the supervisor's)."""
        for child in self.children:
            if child.stage not in self.sinks or child.finished:
                continue
            if child.drained:
                continue
            expected = self.cfg.expected_streams(child.stage, child.replica)
            if not expected or any(child.progress.get(s) != STREAM_ENDED for s in expected):
                return False
        return True

    def _signal_stage_types(self, types: tuple[str, ...] | None, sig: int) -> None:
        for child in self.children:
            if types is not None and self.cfg.stages[child.stage].type not in types:
                continue
            if child.proc is not None and child.proc.poll() is None:
                child.proc.send_signal(sig)

    def _stop_all(self) -> None:
        self.stopping = True
        self._signal_stage_types(None, signal.SIGTERM)
        deadline = time.monotonic() + self.cfg.supervisor.stop_timeout_s
        for child in self.children:
            if child.proc is not None:
                try:
                    child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass

    def _kill_all(self) -> None:
        for child in self.children:
            if child.proc is not None and child.proc.poll() is None:
                log.warning("killing %s", child.name)
                child.proc.kill()
                child.proc.wait()

    def _serve_metrics(self) -> None:
        port = self.cfg.metrics.prometheus_port
        if port is None:
            return
        from prometheus_client import start_http_server
        from prometheus_client.registry import CollectorRegistry

        registry = CollectorRegistry()
        registry.register(SnapshotCollector(
            lambda: [c.metrics for c in self.children if c.metrics],
            lambda: {"stage_restarts": float(sum(c.restarts for c in self.children))},
        ))
        start_http_server(port, addr="127.0.0.1", registry=registry)
        log.info("Prometheus metrics on http://127.0.0.1:%d/metrics", port)
