"""Capture: read sources, stamp seq and pts, send frames downstream.

One thread per source, each with its own DEALER socket (sockets are not thread-safe),
so a slow or dead source never holds up the others. Files, folders and test patterns
never lose a frame: they block at the high-water mark. Live sources (cameras,
network streams) are read by a second thread into a short queue that drops its
oldest frame under load (counted as ``hwm`` drops; the seq numbers of dropped frames
show downstream as gaps), and are reopened with backoff when they die.

After a crash the supervisor passes each stream's last reported seq: files replay
from a little before it (downstream drops the duplicates), live sources carry on.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import zmq

from pipeline import wire
from pipeline.errors import SourceError
from pipeline.sockets import open_socket
from pipeline.sources import BadFrame, Source, open_source
from pipeline.stage import Sender, Stage
from pipeline.wire import Message


class CaptureStage(Stage):
    has_input = False

    def setup(self) -> None:
        cfg = self.ctx.config
        self.stream_ids = cfg.sources_of(self.ctx.name, self.ctx.replica)
        self.next_stage = cfg.downstream(self.ctx.name)[0]
        self.threads: list[threading.Thread] = []
        # Frames a crashed capture may have handed to ZeroMQ without their reaching
        # the next stage: its send queue plus one partly written message.
        self.replay_margin = cfg.transport.hwm + 2
        # Sources with slow one-off work (the synthetic scene loads its faces and may
        # pre-render a loop) do it now, before the stage reports ready: otherwise streams
        # would start one after another while the first ones already run.
        self.prepared: dict[str, Source] = {}
        for sid in self.stream_ids:
            try:
                src = open_source(sid, cfg.sources[sid])
            except SourceError:
                continue  # reported by the stream's thread, which tries again
            prepare = getattr(src, "prepare", None)
            if prepare is None:
                continue
            try:
                prepare()
            except Exception as exc:  # noqa: BLE001  (the stream's thread meets it again)
                self.log.warning("stream %s: preparing the source failed: %s", sid, exc)
                continue
            self.prepared[sid] = src

    def start(self, resume: dict[str, int]) -> None:
        for sid in self.stream_ids:
            t = threading.Thread(target=self._run_stream, args=(sid, resume.get(sid)),
                                 name=f"capture-{sid}", daemon=True)
            t.start()
            self.threads.append(t)

    def finished(self) -> bool:
        return all(not t.is_alive() for t in self.threads)

    def close(self) -> None:
        for t in self.threads:
            t.join(timeout=10)

    # -- one stream ----------------------------------------------------------------
    def _run_stream(self, sid: str, last_sent: int | None) -> None:
        cfg = self.ctx.config
        src_cfg = cfg.sources[sid]
        # Each stream goes to the replica of the next stage that handles it.
        target = cfg.input_endpoint(self.next_stage, cfg.shard_of(self.next_stage, sid))
        with open_socket(self.ctx.zmq, zmq.DEALER, target, bind=False,
                         sndhwm=cfg.transport.hwm, linger_ms=cfg.transport.linger_ms) as sock:
            sender = Sender(sock, self.ctx.stop)
            try:
                src = self.prepared.pop(sid, None)
                if src is None:
                    src = open_source(sid, src_cfg)
            except SourceError as exc:
                self.log.error("%s", exc)
                self.ctx.metrics.count_error(sid)
                self._send_eos(sender, sid, 0, 0, "open-failed")
                self._wait_for_ack(sender, sid)
                return
            if src.live:  # the source says so: cameras, streams, a python camera driver
                start = 0 if last_sent is None else last_sent + 1
                seq, pts, reason = self._run_live(sender, sid, src, src_cfg, start)
            else:
                start = 0 if last_sent is None else max(0, last_sent - self.replay_margin)
                seq, pts, reason = self._run_file(sender, sid, src, src_cfg, start)
            self._send_eos(sender, sid, seq, pts, reason)
            self._wait_for_ack(sender, sid)

    def _wait_for_ack(self, sender: Sender, sid: str) -> None:
        """Keep the socket open until the next stage has the end-of-stream: closing
        right after the last send can lose the stream's tail."""
        timeout = self.ctx.config.transport.ack_timeout_s
        if sender.wait_for_acks(timeout):
            self.ctx.metrics.count_error(sid)
            self.log.warning("stream %s: the next stage did not acknowledge its end within "
                             "%.0fs; its last frames may be lost", sid, timeout)

    def _send_eos(self, sender: Sender, sid: str, seq: int, pts: int, reason: str) -> None:
        self.log.info("stream %s: end-of-stream after seq %d (%s)", sid, seq - 1, reason)
        sender.send(Message(wire.EOS, sid, seq, pts, meta={"reason": reason}))

    def _emit(self, sender: Sender, sid: str, seq: int, pts: int, image: Any,
              fps: float | None) -> None:
        msg = Message(wire.FRAME, sid, seq, pts, {"image": image},
                      meta={"fps": fps} if fps else {})
        if sender.send(msg):
            self.ctx.metrics.count_out(sid)
            self.ctx.progress[sid] = seq
        else:
            self.ctx.metrics.count_drop(sid, "hwm")

    def _run_file(self, sender: Sender, sid: str, src: Source, src_cfg: Any,
                  start: int) -> tuple[int, int, str]:
        """Lossless replay; returns (next seq, last pts, end reason)."""
        stop = self.ctx.stop
        try:
            src.open()
        except SourceError as exc:
            self.log.error("%s", exc)
            self.ctx.metrics.count_error(sid)
            return 0, 0, "open-failed"
        loop = getattr(src_cfg, "loop", False)
        realtime = getattr(src_cfg, "realtime", False)
        seq, pts, offset, frames_this_pass = 0, 0, 0, 0
        t0: float | None = None
        p0 = 0
        try:
            while not stop.is_set():
                try:
                    got = src.skip() if seq < start else src.read()
                except BadFrame as exc:
                    self.log.warning("%s (seq %d skipped)", exc, seq)
                    self.ctx.metrics.count_error(sid)
                    seq += 1
                    continue
                except SourceError as exc:
                    self.log.error("%s", exc)
                    self.ctx.metrics.count_error(sid)
                    return seq, pts, "read-failed"
                except Exception:  # a source's bug must end its stream, not hang it
                    self.log.exception("stream %s: the source failed at seq %d", sid, seq)
                    self.ctx.metrics.count_error(sid)
                    return seq, pts, "read-failed"
                if got is None:
                    if not loop or frames_this_pass == 0:
                        return seq, pts, "end-of-file"
                    step = round(1e9 / src.fps) if src.fps else 0
                    offset, frames_this_pass = pts + step, 0
                    src.close()
                    src.open()
                    continue
                frames_this_pass += 1
                if seq < start:
                    pts = got + offset
                    seq += 1
                    continue
                image, raw_pts = got
                pts = raw_pts + offset
                if realtime:
                    if t0 is None:
                        t0, p0 = time.monotonic(), pts
                    wait = t0 + (pts - p0) / 1e9 - time.monotonic()
                    if wait > 0 and stop.wait(wait):
                        break
                self._emit(sender, sid, seq, pts, image, src.fps)
                seq += 1
            return seq, pts, "stopped"
        finally:
            src.close()

    def _run_live(self, sender: Sender, sid: str, src: Source, src_cfg: Any,
                  start: int) -> tuple[int, int, str]:
        """Reader thread into a drop-oldest queue; this thread sends."""
        stop = self.ctx.stop
        queue: deque[tuple[int, int, Any]] = deque(maxlen=src_cfg.queue)
        cond = threading.Condition()
        state = {"seq": start, "pts": 0, "reason": "stopped", "done": False}

        def read_loop() -> None:
            rc = src_cfg.reconnect
            delay, failures, offset, last_pts = rc.initial_s, 0, 0, -1
            while not stop.is_set():
                try:
                    src.open()
                except SourceError as exc:
                    failures += 1
                    self.ctx.metrics.count_error(sid)
                    if rc.max_attempts is not None and failures >= rc.max_attempts:
                        self.log.error("%s; giving up after %d attempts", exc, failures)
                        state["reason"] = "dead"
                        break
                    self.log.warning("%s; retrying in %.1fs", exc, delay)
                    stop.wait(delay)
                    delay = min(delay * 2, rc.max_s)
                    continue
                self.log.info("stream %s: opened %s", sid, getattr(src, "target", ""))
                delay, failures = rc.initial_s, 0
                step = round(1e9 / src.fps) if src.fps else 33_333_333
                try:
                    while not stop.is_set():
                        try:
                            got = src.read()
                        except BadFrame:
                            self.ctx.metrics.count_error(sid)
                            continue
                        if got is None:
                            raise SourceError(f"{sid}: stream ended")
                        image, pts = got
                        if pts + offset <= last_pts:  # the clock restarted on reconnect
                            offset = last_pts + step - pts
                        last_pts = pts + offset
                        with cond:
                            if len(queue) == queue.maxlen:
                                self.ctx.metrics.count_drop(sid, "hwm")
                            queue.append((state["seq"], last_pts, image))
                            state["seq"] += 1
                            cond.notify()
                except Exception as exc:  # SourceError, or a source's bug: reopen
                    self.ctx.metrics.count_error(sid)
                    self.log.warning("%s; reopening", exc)
                finally:
                    src.close()
            with cond:
                state["done"] = True
                cond.notify()

        reader = threading.Thread(target=read_loop, name=f"read-{sid}", daemon=True)
        reader.start()
        last_seq, last_pts = start - 1, 0
        while True:
            with cond:
                while not queue and not state["done"] and not stop.is_set():
                    cond.wait(0.1)
                if not queue:
                    break
                seq, pts, image = queue.popleft()
            self._emit(sender, sid, seq, pts, image, src.fps)
            last_seq, last_pts = seq, pts
        reader.join(timeout=5)
        return last_seq + 1, last_pts, str(state["reason"])
