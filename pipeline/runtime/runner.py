"""The loop that runs one stage process (the stage itself: :mod:`pipeline.runtime.stage`).

A stage is one small module with one job (``pipeline/stages/*.py``): it subclasses
:class:`Stage` and fills ``process`` (and, if it needs them, ``setup``,
``on_stream_end``, ``close``). :class:`StageRunner` owns everything else: its sockets
(input ROUTER bound, output DEALER connected, created and closed in one place),
decoding and dropping of bad messages, per-stream order checks (duplicates after a
restart are dropped, gaps counted), heartbeats downstream and to the supervisor,
end-of-stream acknowledgements (each end-of-stream received is acked to its sender; a
finishing stage waits for the acks of those it sent before closing), epochs and
watermarks (below), SIGTERM/SIGINT (finish the message in hand, send end-of-stream
downstream, close, exit 0), and the counters. A stage that reads no socket (capture)
sets ``has_input = False`` and starts its own producer threads in ``start``; the runner
sends what they queue in the stage's outboxes (:mod:`pipeline.runtime.producer_pump`).

Epochs and watermarks are how a restarted middle stage loses nothing: capture sends a
``watermark`` every ``transport.watermark_every`` frames; each stage passes it on,
lowered to the oldest source frame it still holds (:meth:`Stage.hold`: a spotting
history, a partial batch); the last stage records it (its ``progress``). When a stage
after capture crashes, the supervisor has capture re-read the stream from that
watermark as a new ``epoch``; every stage that meets the new epoch first discards the
stream's state (:meth:`Stage.reset_stream`), and drops older epochs' messages. Under a
supervisor a stage whose streams have all ended reports ``drained`` and keeps serving
(a re-read may still come through it) until the supervisor releases it.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import zmq

from pipeline.config import PipelineConfig
from pipeline.errors import WireError
from pipeline.logs import worth_logging
from pipeline.messages import EndOfStream, Watermark
from pipeline.runtime import wire
from pipeline.runtime.control import RUN_ID_ENV, ControlClient, identity, new_run_id
from pipeline.runtime.frame_ring import FrameRingReader
from pipeline.runtime.keys import secure_process
from pipeline.runtime.links import POLL_MS, SEND_GIVE_UP_S, Output, Sender
from pipeline.runtime.metrics import StageMetrics, summary_line
from pipeline.runtime.producer_pump import ProducerPump
from pipeline.runtime.recovery import STREAM_ENDED, EpochStep, epoch_step, passed_watermark
from pipeline.runtime.stage import Stage, StageContext, StreamState
from pipeline.runtime.wire import Message

log = logging.getLogger(__name__)



def install_signal_handlers(stop: threading.Event) -> None:
    def handler(signum: int, _frame: Any) -> None:
        log.info("%s received: finishing", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this process when the supervisor dies (no orphans).

    SIGKILL, not SIGTERM: a supervisor that died was killed or crashed, and an orphan
    that finished gracefully (delivering what it held, waiting for acks) lived on for
    ~30 s, holding endpoints and reconnecting to the next run's supervisor. Nothing is
    lost by dying at once: the event log is crash-safe and the next run starts clean."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGKILL)


class StageRunner:
    """Runs one stage process from start to exit."""

    def __init__(
        self,
        config: PipelineConfig,
        name: str,
        replica: int,
        factory: Callable[[StageContext], Stage],
        control: str | None = None,
    ):
        self.config = config
        self.name = name
        self.replica = replica
        self.factory = factory
        self.control_endpoint = control
        self.run_id = os.environ.get(RUN_ID_ENV) or new_run_id()  # own, if run by hand
        self.stop = threading.Event()
        self.metrics = StageMetrics(name, replica)
        self.streams: dict[str, StreamState] = {}
        self._last_heartbeat = 0.0
        self.out: Output | None = None
        self.released = False
        self.rings = FrameRingReader()  # capture's frames in shared memory (same host)
        self.malformed = 0
        self.unknown_stream = 0
        # The streams this replica is sent: its shard of the YAML's sources.
        self.expected = config.expected_streams(name, replica)

    def run(self) -> int:
        """Run until every stream ended or a stop was requested. Returns the exit code."""
        install_signal_handlers(self.stop)
        ctx = zmq.Context()
        auth = secure_process(ctx, self.config.security)  # CURVE on tcp when configured
        try:
            with ExitStack() as sockets:
                return self._run(ctx, sockets)
        finally:
            if auth is not None:
                auth.stop()
            ctx.term()

    def _run(self, ctx: zmq.Context, sockets: ExitStack) -> int:
        cfg, t = self.config, self.config.transport
        sctx = StageContext(cfg, self.name, self.replica, ctx, self.metrics, self.stop,
                            sockets, run_id=self.run_id)
        inp = None
        stage = self.factory(sctx)
        if stage.has_input:
            inp = sctx.open_socket(zmq.ROUTER, cfg.input_endpoint(self.name, self.replica),
                                   bind=True, rcvhwm=t.hwm, linger_ms=t.linger_ms,
                                   max_message_bytes=t.max_message_bytes)
        control = ControlClient(ctx, self.control_endpoint, self.name, self.replica,
                                self.run_id)
        sockets.callback(control.close)
        self.out = None
        for down in cfg.downstream(self.name):
            senders = []
            for r in range(cfg.replicas(down)):
                sock = sctx.open_socket(zmq.DEALER, cfg.input_endpoint(down, r), bind=False,
                                        sndhwm=t.hwm, linger_ms=t.linger_ms)
                senders.append(Sender(sock, self.stop,
                                      on_wait=lambda: self._heartbeat(control)))
            self.out = Output(senders, lambda sid, down=down: cfg.shard_of(down, sid))
        sctx.output = self.out
        self.sctx = sctx
        stage.setup()
        sockets.callback(self.rings.close)
        sockets.callback(stage.close)
        go = control.ready_and_wait(self.stop, cfg.supervisor.startup_timeout_s)
        if self.stop.is_set():
            return 0
        log.info("%s running (pid %d)", identity(self.name, self.replica), os.getpid())
        sctx.epochs = {k: int(v) for k, v in go.get("epochs", {}).items()}
        stage.start({k: int(v) for k, v in go.get("resume", {}).items()})
        pump = None if inp is not None else ProducerPump(self.out, self.metrics,
                                                         sctx.progress,
                                                         cfg.transport.ack_timeout_s)
        drained_sent = False
        while not self.stop.is_set():
            self._heartbeat(control)
            for cmd in control.commands():
                drained_sent = self._command(stage, cmd) and drained_sent
            if self.released:
                break
            if inp is None:
                assert pump is not None
                pump.pump(stage)
                done = stage.finished() and not pump.awaiting_acks()
                if done and not control.supervised:
                    break
                if done and not drained_sent:
                    control.drained()
                    drained_sent = True
                continue
            due = stage.next_tick_s()
            timeout = POLL_MS if due is None else max(0, min(POLL_MS, int(due * 1000)))
            if inp.poll(timeout, zmq.POLLIN):
                self._handle(stage, inp, inp.recv_multipart(copy=False))
            if due is not None:
                self._tick(stage)
            ended = {s for s, st in self.streams.items() if st.ended}
            if ended >= self.expected:  # every stream ended (or was stopped upstream)
                if not control.supervised:
                    break
                if self.out is not None:
                    self.out.service()
                if not drained_sent:
                    control.drained()
                    drained_sent = True
            else:
                drained_sent = False  # a re-read reopened a stream
        finished = not self.stop.is_set()
        if not finished and inp is None:
            stage.stop_reading(SEND_GIVE_UP_S)  # each stream's end queued
            assert pump is not None
            pump.flush(stage)
        elif not finished and self.out is not None:
            self._end_open_streams()
        if self.out is not None:
            missing = self.out.wait_for_acks(cfg.transport.ack_timeout_s)
            if missing:
                log.warning("%s did not acknowledge the end of %s within %.0fs: its last "
                            "messages may be lost", cfg.downstream(self.name)[0],
                            ", ".join(missing), cfg.transport.ack_timeout_s)
        control.done(self.metrics.snapshot(), dict(sctx.progress))
        log.info("%s: %s", "finished: every stream ended" if finished else "stopped",
                 summary_line(self.metrics.snapshot()))
        return 0

    def _command(self, stage: Stage, cmd: dict[str, Any]) -> bool:
        """Act on one supervisor message; False when it reopened streams."""
        kind = cmd.get("type")
        if kind == "release":
            self.released = True
            return True
        if kind == "rewind":
            streams = {str(sid): (int(v[0]), int(v[1]))
                       for sid, v in (cmd.get("streams") or {}).items()}
            log.info("%s: re-reading %s", identity(self.name, self.replica),
                     ", ".join(f"{sid} from seq {seq} (epoch {ep})"
                               for sid, (seq, ep) in streams.items()))
            stage.rewind(streams)
            return False
        log.warning("unknown control message %r ignored", kind)
        return True

    def _heartbeat(self, control: ControlClient) -> None:
        now = time.monotonic()
        if now - self._last_heartbeat < self.config.supervisor.heartbeat_s:
            return
        self._last_heartbeat = now
        control.heartbeat(self.metrics.snapshot(), dict(self.sctx.progress))
        if self.out is not None:  # liveness for downstream; never waits for room
            self.out.broadcast_nowait(Message(
                wire.HEARTBEAT, identity(self.name, self.replica), 0, time.monotonic_ns()))

    def _handle(self, stage: Stage, inp: zmq.Socket, parts: list[Any]) -> None:
        peer, parts = parts[0], parts[1:]  # the ROUTER's routing id of the sender
        try:
            msg = wire.decode(parts, self.rings)
        except WireError as exc:
            self.metrics.count_drop("?", "malformed")
            self.malformed += 1
            if worth_logging(self.malformed):
                log.warning("dropped a malformed message (%d so far): %s", self.malformed,
                            exc)
            return
        if msg.kind == wire.HEARTBEAT:
            return
        if msg.stream not in self.expected:
            # Streams are the YAML's sources: a message of any other id is forged or
            # misrouted. Dropped (never acked) before it gets state or a metrics label of
            # its own: a peer inventing ids would otherwise grow both without bound.
            self.metrics.count_drop("?", "unknown_stream")
            self.unknown_stream += 1
            if worth_logging(self.unknown_stream):
                log.warning("dropped a message of stream %r, not one of this stage's "
                            "sources (%d so far)", msg.stream[:80], self.unknown_stream)
            self._release(msg)
            return
        try:
            self._accept(stage, msg)
        finally:
            self._release(msg)
            if msg.kind == wire.EOS:  # acked even when stale: a resent EOS wants its ack
                ack = Message(wire.ACK, msg.stream, msg.seq, msg.pts_ns, epoch=msg.epoch)
                try:
                    inp.send_multipart([peer, *wire.encode(ack)], flags=zmq.NOBLOCK)
                except zmq.ZMQError:  # the sender is gone: nobody to tell
                    pass

    def _release(self, msg: Message) -> None:
        """A frame viewed in a shared-memory ring is valid only while it is handled
        (Stage.process); then its slot goes back to the writer."""
        for segment, slot, gen in msg.shared.values():
            self.rings.release(segment, slot, gen)

    def _accept(self, stage: Stage, msg: Message) -> None:
        state = self.streams.get(msg.stream)
        if state is None:
            state = self.streams[msg.stream] = StreamState(
                epoch=self.sctx.epochs.get(msg.stream, 0))
        step = epoch_step(msg.epoch, state.epoch)
        if step is EpochStep.STALE:  # from before a re-read: the re-read brings it again
            self.metrics.count_drop(msg.stream, "stale_epoch")
            return
        if step is EpochStep.NEWER:
            log.info("stream %s: epoch %d (re-read after a restart): its state is reset",
                     msg.stream, msg.epoch)
            state.epoch, state.ended, state.last_seq = msg.epoch, False, {}
            try:
                stage.reset_stream(msg.stream)
            except Exception:
                self.metrics.count_error(msg.stream)
                log.exception("stream %s: resetting its state failed", msg.stream)
        if msg.kind == wire.WATERMARK:
            self._watermark(stage, msg)
            return
        if state.ended:
            if msg.seq == 0 and msg.kind != wire.EOS:  # a new session of the stream
                state.ended, state.last_seq = False, {}
            else:
                self.metrics.count_drop(msg.stream, "stale")
                return
        if msg.kind != wire.EOS:
            lane = (msg.track, msg.kind)
            last = state.last_seq.get(lane, -1)
            if msg.seq <= last:
                self.metrics.count_drop(msg.stream, "duplicate")
                return
            if msg.seq > last + 1 and msg.track is None:  # a track may skip frames
                self.metrics.count_gap(msg.stream, msg.seq - last - 1)
            state.last_seq[lane] = msg.seq
        self.metrics.count_in(msg.stream)
        try:
            if msg.kind == wire.EOS:
                state.ended = True
                if self.out is None:  # the last stage: nothing of this stream to re-read
                    self.sctx.progress[msg.stream] = STREAM_ENDED
                outputs = list(stage.on_stream_end(msg))
            else:
                started = time.perf_counter()
                outputs = list(stage.process(msg))
                self.metrics.observe("process_seconds", time.perf_counter() - started)
        except Exception as exc:
            if isinstance(exc, WireError) and msg.kind != wire.EOS:
                # Its parts decoded but do not make its kind (pipeline/messages/): a
                # malformed message like any other, counted and logged at a rate.
                self.metrics.count_drop(msg.stream, "malformed")
                self.malformed += 1
                if worth_logging(self.malformed):
                    log.warning("stream %s seq %d: dropped a malformed %s message (%d so "
                                "far): %s", msg.stream, msg.seq, msg.kind, self.malformed,
                                exc)
                return
            self.metrics.count_error(msg.stream)
            log.exception("stream %s seq %d: %s failed", msg.stream, msg.seq, msg.kind)
            if msg.kind != wire.EOS:
                return
            # The end of a stream always reaches the next stage, or the run would wait
            # for it forever; it says the stream failed here and why.
            outputs = [EndOfStream.from_message(msg).failing(self.name, exc).to_message()]
        for out in outputs:
            self.send(out)

    def _watermark(self, stage: Stage, msg: Message) -> None:
        try:
            held = stage.hold(msg.stream)
        except Exception:
            self.metrics.count_error(msg.stream)
            log.exception("stream %s: hold() failed; watermark not passed on", msg.stream)
            return
        seq = passed_watermark(msg.seq, held)
        if self.out is None:  # the last stage: where a re-read of this stream starts
            self.sctx.progress[msg.stream] = seq
            return
        self.out.send(Watermark(msg.stream, seq, msg.pts_ns, msg.epoch).to_message())

    def _tick(self, stage: Stage) -> None:
        try:
            outputs = list(stage.tick())
        except Exception:
            self.metrics.count_error("?")
            log.exception("%s: tick failed", self.name)
            return
        for out in outputs:
            self.send(out)

    def send(self, msg: Message) -> None:
        if self.out is None:
            return
        state = self.streams.get(msg.stream)
        if state is not None:  # outputs belong to the epoch of the stream's input
            msg.epoch = state.epoch
        if msg.shared:  # a forwarded ring frame: its slot is freed once handled here
            msg.buffers = {k: (v.copy() if k in msg.shared else v)
                           for k, v in msg.buffers.items()}
            msg.shared = {}
        if self.out.send(msg):
            self.metrics.count_out(msg.stream)
        else:
            self.metrics.count_drop(msg.stream, "hwm")

    def _end_open_streams(self) -> None:
        for sid, st in self.streams.items():
            if not st.ended:
                seq = max(st.last_seq.values(), default=-1) + 1
                self.send(EndOfStream(sid, seq, 0, "stopped", epoch=st.epoch).to_message())
