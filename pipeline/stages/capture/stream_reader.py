"""One stream's reader: its own thread reads the source, stamps seq and pts, and puts
frames, watermarks and the end-of-stream in the stream's :class:`Outbox`; the runner
sends them (:class:`~pipeline.stages.capture.stage.CaptureStage`).

Files, folders and test patterns never lose a frame: a full outbox holds the reader
back. Live sources (cameras, network streams) never wait: a full outbox drops its
oldest frame, a full frame ring the newest (both counted as ``hwm`` drops; the seqs of
dropped frames show downstream as gaps), and a dead source is reopened with backoff.

A re-read (``rewind``, :mod:`pipeline.runtime.recovery`) is a command the reader takes
up at a frame boundary, never in the middle of one: what is queued is dropped, the
ring's slots are freed (the crashed stage held some), and a file is read again from
the asked frame as the new epoch; a live stream only moves to the new epoch. A reader
whose pass has ended starts a new thread for it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from pipeline.config import PipelineConfig
from pipeline.errors import SourceError
from pipeline.messages import EndOfStream, Frame, Watermark
from pipeline.runtime.metrics import StageMetrics
from pipeline.runtime.outbox import Outbox
from pipeline.runtime.recovery import replay_margin, resume_from, watermark_due
from pipeline.runtime.wire import Message
from pipeline.sources import BadFrame, Source, open_source
from pipeline.stages.capture.frame_slots import FrameSlots, Shared, ring_wanted

FILE_OUTBOX = 4  # frames a file stream queues for the runner (each holds a ring slot)
RING_POLL_S = 0.0005  # how often a reader looks again for a ring slot the next stage holds


@dataclass(frozen=True)
class Rewind:
    """Read the stream again from frame ``seq`` as epoch ``epoch``."""

    seq: int
    epoch: int


@dataclass
class PassEnd:
    """How a pass over the stream ended: the next seq, the last pts, and why."""

    seq: int
    pts: int
    reason: str


class StreamReader:
    """Reads one stream, one pass at a time, into its outbox."""

    def __init__(self, stream: str, config: PipelineConfig, target: str,
                 ready: threading.Condition, stop: threading.Event,
                 metrics: StageMetrics, log: logging.Logger, epoch: int = 0,
                 prepared: Source | None = None):
        self.stream = stream
        self.settings = config.sources[stream]
        self.every = config.transport.watermark_every
        self.margin = replay_margin(config.transport.hwm)
        self.stop = stop
        self.metrics = metrics
        self.log = log
        self.epoch = epoch
        self.live = False
        self.outbox = Outbox(ready, FILE_OUTBOX, lossless=True)
        self.slots = FrameSlots(stream, ring_wanted(config, target),
                                config.transport.frame_ring_slots, log)
        self._prepared = prepared
        self._lock = threading.Lock()
        self._pending: Rewind | None = None
        self._running = False
        self._thread: threading.Thread | None = None
        self._pace: tuple[float, int] | None = None  # (wall clock, pts) of the first frame

    # -- commands (the runner's thread) ------------------------------------------------
    def start(self, last_sent: int | None) -> None:
        """The first pass; ``last_sent``: the last seq a crashed capture reported."""
        with self._lock:
            self._running = True
            self._start_thread(last_sent, None)

    def rewind(self, seq: int, epoch: int) -> None:
        """Ask for a re-read from ``seq`` as ``epoch`` (ignored unless newer)."""
        with self._lock:
            latest = self._pending.epoch if self._pending else self.epoch
            if epoch <= latest:
                return  # an old request
            if self._running:
                self._pending = Rewind(seq, epoch)  # taken up at the next frame
                return
            self._new_epoch(Rewind(seq, epoch))
            if not self.live:  # a live stream has nothing to read again: the epoch only
                self._running = True
                self._start_thread(None, seq)

    @property
    def idle(self) -> bool:
        """No pass running and nothing left to send."""
        with self._lock:
            return not self._running and not len(self.outbox)

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def close(self) -> None:
        self.join(10)
        self.slots.close()

    # -- the reading thread -------------------------------------------------------------
    def _start_thread(self, last_sent: int | None, rewind_to: int | None) -> None:
        previous = self._thread
        self._thread = threading.Thread(target=self._run,
                                        args=(last_sent, rewind_to, previous),
                                        name=f"capture-{self.stream}", daemon=True)
        self._thread.start()

    def _take_rewind(self) -> Rewind | None:
        """A pending re-read, now current (called at frame boundaries)."""
        if self._pending is None:  # unlocked peek; the take is locked
            return None
        with self._lock:
            pending, self._pending = self._pending, None
            if pending is not None:
                self._new_epoch(pending)
        return pending

    def _new_epoch(self, rewind: Rewind) -> None:
        """The stream's next epoch starts: what is queued is superseded (the re-read
        brings it again) and the slots the crashed stage held are free again."""
        self.epoch = rewind.epoch
        for msg in self.outbox.clear():
            self.slots.cancel(msg.shared)
        self.slots.reclaim()
        if self.live:
            self.log.warning("stream %s is live: what the restarted stage held is lost "
                             "(epoch %d)", self.stream, rewind.epoch)

    def _keep_waiting(self) -> bool:
        """While blocked (full outbox, ring slot held): go on unless stopping or a
        re-read is pending."""
        return not self.stop.is_set() and self._pending is None

    def _ring_wait(self) -> bool:
        if not self._keep_waiting():
            return False
        time.sleep(RING_POLL_S)
        return True

    def _run(self, last_sent: int | None, rewind_to: int | None,
             previous: threading.Thread | None) -> None:
        if previous is not None:
            previous.join()  # it has decided to end; it only returns now
        start = rewind_to
        while True:
            end = self._one_pass(last_sent, start)
            self._put(EndOfStream(self.stream, end.seq, end.pts, end.reason,
                                  epoch=self.epoch).to_message())
            self.log.info("stream %s: end-of-stream after seq %d (%s)", self.stream,
                          end.seq - 1, end.reason)
            with self._lock:  # a re-read asked for while the stream was ending
                pending, self._pending = self._pending, None
                if pending is None or self.stop.is_set():
                    self._running = False
                    return
                self._new_epoch(pending)
            last_sent, start = None, pending.seq

    def _one_pass(self, last_sent: int | None, rewind_to: int | None) -> PassEnd:
        try:
            src = self._prepared or open_source(self.stream, self.settings)
        except SourceError as exc:
            self.log.error("%s", exc)
            self.metrics.count_error(self.stream)
            return PassEnd(0, 0, "open-failed")
        self._prepared = None
        self.live = src.live  # the source says so: cameras, streams, a camera driver
        if src.live:
            self.outbox.lossless, self.outbox.size = False, self.settings.queue
            return self._read_live(src, resume_from(last_sent, True, self.margin))
        start = resume_from(last_sent, False, self.margin) if rewind_to is None else rewind_to
        while True:
            end = self._read_file(src, start)
            if isinstance(end, PassEnd):
                return end
            self.log.info("stream %s: re-reading from seq %d (epoch %d)", self.stream,
                          end.seq, end.epoch)
            start = end.seq

    def _put(self, msg: Message) -> bool:
        """Queue ``msg`` for the runner; False when it was dropped instead."""
        dropped = self.outbox.put(msg, self._keep_waiting)
        for lost in dropped:
            self.slots.cancel(lost.shared)
            if lost is not msg:  # live: the oldest frame made room
                self.metrics.count_drop(self.stream, "hwm")
            elif self.stop.is_set():  # a file's frame while stopping (a re-read brings
                self.metrics.count_drop(self.stream, "stopped")  # back what it cut)
        return all(lost is not msg for lost in dropped)

    def _emit(self, seq: int, pts: int, image: Any, fps: float | None,
              shared: Shared) -> None:
        if not shared:
            # A live reader does not wait for the next stage to free a slot.
            placed = self.slots.place(image, (lambda: False) if self.live
                                      else self._ring_wait)
            if placed is None:  # (live) no free slot, stopping, or a re-read pending
                if self.live or self.stop.is_set():
                    self.metrics.count_drop(self.stream,
                                            "hwm" if self.live else "stopped")
                return
            image, shared = placed
        msg = Frame(self.stream, seq, pts, image, fps, self.epoch, shared).to_message()
        if self._put(msg) and watermark_due(seq, self.every):
            self._put(Watermark(self.stream, seq + 1, pts, self.epoch).to_message())

    def _read_file(self, src: Source, start: int) -> PassEnd | Rewind:
        """Lossless replay from ``start``: how it ended, or the re-read that cut it."""
        stop = self.stop
        try:
            src.open()
        except SourceError as exc:
            self.log.error("%s", exc)
            self.metrics.count_error(self.stream)
            return PassEnd(0, 0, "open-failed")
        loop = getattr(self.settings, "loop", False)
        realtime = getattr(self.settings, "realtime", False)
        seq, pts, offset, frames_this_pass = 0, 0, 0, 0
        try:
            while not stop.is_set():
                rewind = self._take_rewind()
                if rewind is not None:
                    return rewind
                shared: Shared = {}
                try:
                    if seq < start:
                        got: Any = src.skip()
                    else:
                        decoded = self.slots.decode(src, self._ring_wait)
                        if decoded is None:  # stopping or a re-read: the loop decides
                            continue
                        got, shared = decoded
                except BadFrame as exc:
                    self.log.warning("%s (seq %d skipped)", exc, seq)
                    self.metrics.count_error(self.stream)
                    seq += 1
                    continue
                except SourceError as exc:
                    self.log.error("%s", exc)
                    self.metrics.count_error(self.stream)
                    return PassEnd(seq, pts, "read-failed")
                except Exception:  # a source's bug must end its stream, not hang it
                    self.log.exception("stream %s: the source failed at seq %d",
                                       self.stream, seq)
                    self.metrics.count_error(self.stream)
                    return PassEnd(seq, pts, "read-failed")
                if got is None:
                    if not loop or frames_this_pass == 0:
                        return PassEnd(seq, pts, "end-of-file")
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
                if realtime and self._wait_until_due(pts):
                    self.slots.cancel(shared)
                    break
                self._emit(seq, pts, image, src.fps, shared)
                seq += 1
            return PassEnd(seq, pts, "stopped")
        finally:
            src.close()

    def _wait_until_due(self, pts: int) -> bool:
        """Pace a ``realtime`` file: wait until frame ``pts`` is due; True if stopped.
        A re-read keeps the first pass's clock: frames already due go out at once (the
        re-read catches up), later ones are paced as before."""
        if self._pace is None:
            self._pace = (time.monotonic(), pts)
        t0, p0 = self._pace
        wait = t0 + (pts - p0) / 1e9 - time.monotonic()
        return wait > 0 and self.stop.wait(wait)

    def _read_live(self, src: Source, start: int) -> PassEnd:
        """Read until stopped or given up, reopening with backoff; never waits for the
        runner (the outbox drops its oldest frame)."""
        rc = self.settings.reconnect
        delay, failures, offset, last_pts = rc.initial_s, 0, 0, -1
        seq, reason = start, "stopped"
        while not self.stop.is_set():
            try:
                src.open()
            except SourceError as exc:
                failures += 1
                self.metrics.count_error(self.stream)
                if rc.max_attempts is not None and failures >= rc.max_attempts:
                    self.log.error("%s; giving up after %d attempts", exc, failures)
                    reason = "dead"
                    break
                self.log.warning("%s; retrying in %.1fs", exc, delay)
                self.stop.wait(delay)
                delay = min(delay * 2, rc.max_s)
                continue
            self.log.info("stream %s: opened %s", self.stream, getattr(src, "target", ""))
            delay, failures = rc.initial_s, 0
            step = round(1e9 / src.fps) if src.fps else 33_333_333
            try:
                while not self.stop.is_set():
                    self._take_rewind()  # live: a new epoch, nothing to read again
                    try:
                        got = src.read()
                    except BadFrame:
                        self.metrics.count_error(self.stream)
                        continue
                    if got is None:
                        raise SourceError(f"{self.stream}: stream ended")
                    image, pts = got
                    if pts + offset <= last_pts:  # the clock restarted on reconnect
                        offset = last_pts + step - pts
                    last_pts = pts + offset
                    self._emit(seq, last_pts, image, src.fps, {})
                    seq += 1
            except Exception as exc:  # SourceError, or a source's bug: reopen
                self.metrics.count_error(self.stream)
                self.log.warning("%s; reopening", exc)
            finally:
                src.close()
        return PassEnd(seq, max(last_pts, 0), reason)
