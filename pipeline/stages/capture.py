"""Capture: read sources, stamp seq and pts, send frames downstream.

One thread per source, each with its own DEALER socket (sockets are not thread-safe),
so a slow or dead source never holds up the others. Files, folders and test patterns
never lose a frame: they block at the high-water mark. Live sources (cameras,
network streams) are read by a second thread into a short queue that drops its
oldest frame under load (counted as ``hwm`` drops; the seq numbers of dropped frames
show downstream as gaps), and are reopened with backoff when they die.

After a crash the supervisor passes each stream's last reported seq: files replay
from a little before it (downstream drops the duplicates), live sources carry on.

Every ``transport.watermark_every`` frames a stream also sends a watermark. When a
stage downstream crashes the supervisor sends ``rewind``: a file stream is read again
from the frame the last stage's watermark names, as a new epoch (a stream whose thread
had already finished gets a new thread); a live stream cannot be read again, so it
only moves to the new epoch (what the crashed stage held is lost, docs/operations.md).

Why one module over 400 lines: per-stream reader threads, pacing, re-reads and the
end-of-stream handshake share one lock and one state per stream (issue 20 asks for
reader objects; not split yet).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

import numpy as np
import zmq

from pipeline.config import CaptureSettings
from pipeline.errors import SourceError
from pipeline.runtime import wire
from pipeline.runtime.frame_ring import FrameRingWriter
from pipeline.runtime.links import Sender
from pipeline.runtime.sockets import open_socket
from pipeline.runtime.stage import Stage
from pipeline.runtime.wire import Message
from pipeline.sources import BadFrame, Source, open_source

_UNSIZED: Any = object()  # a ring is wanted; it is created on the stream's first frame


class _Stopping(Exception):
    """Raised while waiting for a free frame-ring slot once the stage is stopping."""


class _Rewound(Exception):
    """Raised inside a stream's thread to abandon the current read for a re-read."""

    def __init__(self, seq: int):
        super().__init__(seq)
        self.seq = seq


class CaptureStage(Stage[CaptureSettings]):
    has_input = False

    def setup(self) -> None:
        cfg = self.ctx.config
        self.stream_ids = cfg.sources_of(self.ctx.name, self.ctx.replica)
        self.next_stage = cfg.downstream(self.ctx.name)[0]
        self.threads: dict[str, threading.Thread] = {}
        self.every = cfg.transport.watermark_every
        self.epochs: dict[str, int] = {}
        self._rewinds: dict[str, tuple[int, int]] = {}  # stream -> (seq, epoch) pending
        # Streams whose thread has decided to exit (it is still closing its socket and
        # ring): a re-read of one starts a new thread, which the old one would not see.
        self._exiting: set[str] = set()
        self._pace: dict[str, tuple[float, int]] = {}  # stream -> (wall t0, its pts)
        self.live: dict[str, bool] = {}
        # Per stream: its shared-memory frame ring (None: frames go inline), and a flag
        # to free every slot after the next stage restarted (it held some).
        self.rings: dict[str, FrameRingWriter | None] = {}
        self._reclaim: dict[str, bool] = {}
        self._frame_shape: dict[str, tuple[int, ...]] = {}  # the last frame's, per stream
        self._in_place: dict[str, int] = {}  # frames decoded straight into a slot
        self._lock = threading.Lock()
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
            self.epochs[sid] = self.ctx.epochs.get(sid, 0)
            self._start_thread(sid, resume.get(sid), None)

    def _start_thread(self, sid: str, last_sent: int | None, rewind_to: int | None) -> None:
        previous = self.threads.get(sid)
        self._exiting.discard(sid)
        t = threading.Thread(target=self._run_stream,
                             args=(sid, last_sent, rewind_to, previous),
                             name=f"capture-{sid}", daemon=True)
        self.threads[sid] = t
        t.start()

    def finished(self) -> bool:
        with self._lock:
            return not self._rewinds and all(not t.is_alive()
                                             for t in self.threads.values())

    def rewind(self, streams: dict[str, tuple[int, int]]) -> None:
        with self._lock:
            for sid, (seq, epoch) in streams.items():
                if sid not in self.threads or epoch <= self.epochs.get(sid, 0):
                    continue  # not ours, or an old request
                if self.live.get(sid):  # nothing to read again: carry on in the new epoch
                    self.epochs[sid] = epoch
                    self._reclaim[sid] = True
                    self.log.warning("stream %s is live: what the restarted stage held is "
                                     "lost (epoch %d)", sid, epoch)
                elif self.threads[sid].is_alive() and sid not in self._exiting:
                    self._rewinds[sid] = (seq, epoch)  # the thread takes it up
                else:
                    self.epochs[sid] = epoch
                    self._start_thread(sid, None, seq)

    def _take_rewind(self, sid: str) -> int | None:
        """A pending re-read of ``sid``: its epoch becomes current; returns its seq."""
        with self._lock:
            pending = self._rewinds.pop(sid, None)
            if pending is None:
                return None
            self.epochs[sid] = pending[1]
        ring = self.rings.get(sid)
        if isinstance(ring, FrameRingWriter):  # the crashed stage may have held slots
            ring.reclaim()
        return pending[0]

    def _check_rewind(self, sid: str) -> None:
        if sid in self._rewinds:  # unlocked peek; the take is locked
            seq = self._take_rewind(sid)
            if seq is not None:
                raise _Rewound(seq)

    def close(self) -> None:
        for t in list(self.threads.values()):
            t.join(timeout=10)

    # -- one stream ----------------------------------------------------------------
    def _run_stream(self, sid: str, last_sent: int | None, rewind_to: int | None,
                    previous: threading.Thread | None = None) -> None:
        if previous is not None:
            # The stream's last thread is closing its ring and socket: the ring is keyed
            # by stream, so this one starts when that one is gone.
            previous.join()
        cfg = self.ctx.config
        src_cfg = cfg.sources[sid]
        # Each stream goes to the replica of the next stage that handles it.
        target = cfg.input_endpoint(self.next_stage, cfg.shard_of(self.next_stage, sid))
        with open_socket(self.ctx.zmq, zmq.DEALER, target, bind=False,
                         sndhwm=cfg.transport.hwm, linger_ms=cfg.transport.linger_ms) as sock:
            # A re-read request interrupts a send blocked at the high-water mark too.
            sender = Sender(sock, self.ctx.stop, on_wait=lambda: self._check_rewind(sid))
            self.rings[sid] = self._open_ring(sid, target)
            try:
                while True:
                    self._read_stream(sender, sid, src_cfg, last_sent, rewind_to)
                    with self._lock:  # a re-read asked for while the stream was ending
                        pending = self._rewinds.pop(sid, None)
                        if pending is None or self.ctx.stop.is_set():
                            # From here a re-read starts a new thread (before, one asked
                            # for in this thread's last moments was never read: a hang).
                            self._exiting.add(sid)
                            return
                        self.epochs[sid] = pending[1]
                    last_sent, rewind_to = None, pending[0]
                    ring = self.rings.get(sid)
                    if isinstance(ring, FrameRingWriter):
                        ring.reclaim()
            finally:
                ring = self.rings.pop(sid, None)
                if isinstance(ring, FrameRingWriter):
                    self.log.info("stream %s: %d frames went through shared memory, %d "
                                  "decoded in place (%d slots of %.2f MB)", sid,
                                  ring.frames_written,
                                  self._in_place.get(sid, 0), ring.slots,
                                  ring.slot_bytes / 1e6)
                    ring.close()

    def _open_ring(self, sid: str, target: str) -> FrameRingWriter | None:
        """A frame ring for the stream when the next stage shares this host; it is
        sized on the first frame (:meth:`_ring_slot`)."""
        t = self.ctx.config.transport
        local = target.startswith("ipc://") or target.startswith(
            ("tcp://127.", "tcp://localhost:", "tcp://[::1]:"))
        if t.frame_ring == "off" or (t.frame_ring == "auto" and not local):
            return None
        return _UNSIZED

    def _ring_slot(self, sid: str, image: Any) -> tuple[Any, dict[str, Any]]:
        """Copy ``image`` into the stream's ring: (the slot's view, ``shared``) or, with
        no ring or a frame too big for its slots, (``image``, {})."""
        ring = self.rings.get(sid)
        if ring is None:
            return image, {}
        if ring is _UNSIZED:
            try:
                ring = FrameRingWriter(f"mestream-{sid}"[:40],
                                       self.ctx.config.transport.frame_ring_slots,
                                       image.nbytes)
            except OSError as exc:
                self.log.warning("stream %s: %s; frames go through the socket", sid, exc)
                self.rings[sid] = None
                return image, {}
            self.rings[sid] = ring
        if not ring.fits(image.shape, image.dtype):
            return image, {}  # a bigger frame than the first: inline (counted nowhere)
        slot, gen, view = ring.acquire(image.shape, image.dtype,
                                       wait=lambda: self._ring_wait(sid))
        np.copyto(view, image)
        return view, {"image": (ring.name, slot, gen)}

    def _decode(self, sid: str, src: Source) -> tuple[Any, dict[str, Any]]:
        """``src.read()``; straight into the next ring slot when the source can decode
        in place and the frame keeps the last one's shape (no copy at all)."""
        ring = self.rings.get(sid)
        shape = self._frame_shape.get(sid)
        read_into = getattr(src, "read_into", None)
        if (not isinstance(ring, FrameRingWriter) or read_into is None or shape is None
                or not ring.fits(shape, np.uint8)):
            return src.read(), {}
        slot, gen, view = ring.acquire(shape, np.uint8, wait=lambda: self._ring_wait(sid))
        try:
            got = read_into(view)
        except BaseException:
            ring.cancel(slot, gen)
            raise
        if got is None or not (got[0] is view or np.may_share_memory(got[0], view)):
            ring.cancel(slot, gen)  # the end, or a frame of another shape: not in place
            return got, {}
        self._in_place[sid] = self._in_place.get(sid, 0) + 1
        return got, {"image": (ring.name, slot, gen)}

    def _cancel(self, sid: str, shared: dict[str, Any]) -> None:
        ring = self.rings.get(sid)
        if isinstance(ring, FrameRingWriter):
            for _, slot, gen in shared.values():
                ring.cancel(slot, gen)

    def _ring_wait(self, sid: str) -> None:
        """While the next stage still holds the slot wanted: notice a stop or a re-read,
        free the slots a crashed next stage held, then look again shortly."""
        if self.ctx.stop.is_set():
            raise _Stopping
        self._check_rewind(sid)
        ring = self.rings.get(sid)
        if self._reclaim.pop(sid, False) and isinstance(ring, FrameRingWriter):
            ring.reclaim()
        time.sleep(0.0005)

    def _read_stream(self, sender: Sender, sid: str, src_cfg: Any, last_sent: int | None,
                     rewind_to: int | None) -> None:
        """One pass over a stream, from open to acknowledged end-of-stream."""
        try:
            src = self.prepared.pop(sid, None)
            if src is None:
                src = open_source(sid, src_cfg)
        except SourceError as exc:
            self.log.error("%s", exc)
            self.ctx.metrics.count_error(sid)
            self._end(sender, sid, 0, 0, "open-failed")
            return
        self.live[sid] = src.live
        if src.live:  # the source says so: cameras, streams, a python camera driver
            start = 0 if last_sent is None else last_sent + 1
            seq, pts, reason = self._run_live(sender, sid, src, src_cfg, start)
        else:
            start = 0 if last_sent is None else max(0, last_sent - self.replay_margin)
            if rewind_to is not None:
                start = rewind_to
            while True:
                try:
                    seq, pts, reason = self._run_file(sender, sid, src, src_cfg, start)
                    break
                except _Rewound as r:
                    self.log.info("stream %s: re-reading from seq %d (epoch %d)", sid,
                                  r.seq, self.epochs[sid])
                    start = r.seq
        self._end(sender, sid, seq, pts, reason)

    def _end(self, sender: Sender, sid: str, seq: int, pts: int, reason: str) -> None:
        """Send the end-of-stream and wait for its ack; a re-read asked for meanwhile is
        put back for :meth:`_run_stream` to start."""
        try:
            self._send_eos(sender, sid, seq, pts, reason)
            self._wait_for_ack(sender, sid)
        except _Rewound as r:
            with self._lock:
                self._rewinds[sid] = (r.seq, self.epochs[sid])

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
        sender.send(Message(wire.EOS, sid, seq, pts, meta={"reason": reason},
                            epoch=self.epochs.get(sid, 0)))

    def _emit(self, sender: Sender, sid: str, seq: int, pts: int, image: Any,
              fps: float | None, shared: dict[str, Any] | None = None) -> None:
        epoch = self.epochs.get(sid, 0)
        self._frame_shape[sid] = image.shape
        if not shared:
            try:
                image, shared = self._ring_slot(sid, image)
            except _Stopping:
                self.ctx.metrics.count_drop(sid, "stopped")
                return
        msg = Message(wire.FRAME, sid, seq, pts, {"image": image},
                      meta={"fps": fps} if fps else {}, epoch=epoch, shared=shared)
        if sender.send(msg):
            self.ctx.metrics.count_out(sid)
            self.ctx.progress[sid] = seq
        else:
            self.ctx.metrics.count_drop(sid, "hwm")
        if (seq + 1) % self.every == 0:  # every frame before seq + 1 has been sent
            sender.send(Message(wire.WATERMARK, sid, seq + 1, pts, epoch=epoch))

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
        # A re-read keeps the first pass's clock: frames already due go out at once (the
        # re-read catches up), later ones are paced as before.
        t0, p0 = self._pace.get(sid, (None, 0))
        try:
            while not stop.is_set():
                self._check_rewind(sid)
                shared: dict[str, Any] = {}
                try:
                    got, shared = (src.skip(), {}) if seq < start else self._decode(sid, src)
                except (_Rewound, _Stopping) as exc:
                    if isinstance(exc, _Rewound):
                        raise
                    return seq, pts, "stopped"
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
                        self._pace[sid] = (t0, p0)
                    wait = t0 + (pts - p0) / 1e9 - time.monotonic()
                    if wait > 0 and stop.wait(wait):
                        self._cancel(sid, shared)
                        break
                self._emit(sender, sid, seq, pts, image, src.fps, shared)
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
