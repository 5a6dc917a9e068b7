"""The publish stage's durable event log: append-only JSONL segments, read back for replay.

Every record the publish stage sends is first given the pipeline's next ``event_seq``
(0, 1, 2, ... across restarts of the stage: the log is read back on start) and appended
to the log as one JSON line, then published. Segments are files named by the first
seq they hold (``events-00000000000000000000.jsonl``), so a replay from seq N opens
the last segment starting at or before N and reads on.

- **fsync policy**: ``always`` (fdatasync after every record: survives a power cut,
  slowest), ``interval`` (at most ``fsync_interval_ms`` of records at risk from a power
  cut; a killed process loses nothing, the kernel holds its writes), ``never``.
- **Each record is one ``write(2)`` of a whole line**, so a reader in another thread or
  process never sees half a record except a torn last line after a crash, which the
  next writer truncates away on open.
- **A full disk never stops publishing**: the failed write is undone (truncated back),
  the error is logged once with its cause and counted, the record is published with
  ``"durable": false``, and every later record tries again; the first success after a
  failure is logged too.

Example:
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> log = EventLog(d, fsync="never")
    >>> [log.append({"type": "event", "stream": "cam"})[:16] for _ in range(3)]
    [b'{"event_seq":0,"', b'{"event_seq":1,"', b'{"event_seq":2,"']
    >>> log.close()
    >>> reply = LogReader(d).read(1, limit=10)
    >>> [json.loads(line)["event_seq"] for line in reply.lines], reply.end
    ([1, 2], True)
    >>> EventLog(d).next_seq  # a restarted writer carries on
    3
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger(__name__)

FsyncPolicy = Literal["always", "interval", "never"]
SEGMENT_GLOB = "events-*.jsonl"
_SEGMENT = re.compile(r"^events-(\d{20})\.jsonl$")
_SEQ = re.compile(rb'^\{"event_seq":(\d+)[,}]')


def segment_name(first_seq: int) -> str:
    return f"events-{first_seq:020d}.jsonl"


def segments(directory: Path) -> list[tuple[int, Path]]:
    """The log's segment files as (first seq, path), oldest first."""
    out = []
    for path in directory.glob(SEGMENT_GLOB):
        m = _SEGMENT.match(path.name)
        if m:
            out.append((int(m.group(1)), path))
    return sorted(out)


def seq_of(line: bytes) -> int | None:
    """The ``event_seq`` of one log line (always its first key), without parsing it all."""
    m = _SEQ.match(line)
    return int(m.group(1)) if m else None


def replay_endpoint(bind: str) -> str:
    """The replay endpoint that goes with a publish ``bind`` address: the next tcp port,
    or ``<path>.replay`` for ipc. Used by the publish stage and the client alike.

    >>> replay_endpoint("tcp://127.0.0.1:5560"), replay_endpoint("ipc:///run/pub.ipc")
    ('tcp://127.0.0.1:5561', 'ipc:///run/pub.ipc.replay')
    """
    if bind.startswith("tcp://"):
        host, port = bind.rsplit(":", 1)
        return f"{host}:{int(port) + 1}"
    return f"{bind}.replay"


class EventLog:
    """The writer: one per publish stage process.

    Args:
        directory: where the segments live (created if missing).
        fsync: ``always`` | ``interval`` | ``never``.
        fsync_interval_ms: for ``interval``: the longest time written records wait
            for an fdatasync.
        segment_bytes: a new segment starts once the current one is this large.
        retain_bytes: delete the oldest segments while the log is larger (None: keep all).
    """

    def __init__(self, directory: Path, *, fsync: FsyncPolicy = "interval",
                 fsync_interval_ms: float = 200.0, segment_bytes: int = 64 << 20,
                 retain_bytes: int | None = None):
        self.directory = Path(directory)
        self.fsync = fsync
        self.fsync_interval_s = fsync_interval_ms / 1000
        self.segment_bytes = segment_bytes
        self.retain_bytes = retain_bytes
        self.failures = 0          # records that could not be made durable
        self.last_error: str | None = None
        self._failing = False
        self._fd: int | None = None
        self._size = 0
        self._last_sync = time.monotonic()
        self._dirty = False
        # A write beyond RLIMIT_FSIZE raises SIGXFSZ, whose default action kills the
        # process; ignored, the write fails with EFBIG and is handled like a full disk.
        try:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        except ValueError:  # not the main thread: leave the process's handlers alone
            pass
        self.directory.mkdir(parents=True, exist_ok=True)
        self.next_seq = self._recover()

    def _recover(self) -> int:
        """Find the next seq from the newest segment, cutting a torn last line."""
        segs = segments(self.directory)
        while segs:
            first, path = segs[-1]
            data = path.read_bytes()
            end = data.rfind(b"\n") + 1
            if end < len(data):
                log.warning("event log %s: cut a torn last record (%d bytes) left by a "
                            "crash", path, len(data) - end)
                with path.open("r+b") as f:
                    f.truncate(end)
            last = None
            for line in reversed(data[:end].splitlines()):
                last = seq_of(line)
                if last is not None:
                    break
            if last is not None:
                return last + 1
            if end == 0 and len(segs) > 1:
                path.unlink()  # an empty segment: the newest records are in the one before
                segs.pop()
                continue
            return first
        return 0

    def _open_segment(self, seq: int) -> None:
        segs = segments(self.directory)
        if segs and segs[-1][1].stat().st_size < self.segment_bytes:
            path = segs[-1][1]
        else:
            path = self.directory / segment_name(seq)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._size = os.fstat(self._fd).st_size

    def append(self, record: dict[str, Any]) -> bytes:
        """Give ``record`` the next ``event_seq``, write it, return the JSON to publish
        (with ``"durable": false`` added when the write failed)."""
        seq = self.next_seq
        self.next_seq += 1
        body = json.dumps({"event_seq": seq, **record}, separators=(",", ":"),
                          default=str).encode()
        try:
            self._write(body + b"\n", seq)
        except OSError as exc:
            self.failures += 1
            self.last_error = f"{exc.strerror or exc} ({self.directory})"
            if not self._failing:
                log.error("event log write failed: %s; publishing goes on live, records "
                          "are marked durable=false and cannot be replayed until writes "
                          "succeed again", self.last_error)
            self._failing = True
            return body[:-1] + b',"durable":false}'
        if self._failing:
            log.warning("event log writable again after %d records were not durable",
                        self.failures)
            self._failing = False
        return body

    def _write(self, line: bytes, seq: int) -> None:
        if self._fd is None:
            self._open_segment(seq)
        assert self._fd is not None
        try:
            n = os.write(self._fd, line)
            if n != len(line):  # a short write: disk (or quota) full
                raise OSError(28, os.strerror(28))
        except OSError:
            try:
                os.ftruncate(self._fd, self._size)  # leave no torn record behind
            except OSError:
                pass
            raise
        self._size += len(line)
        self._dirty = True
        if self.fsync == "always":
            os.fdatasync(self._fd)
            self._dirty = False
        elif self.fsync == "interval":
            self.sync_if_due()
        if self._size >= self.segment_bytes:
            self._rotate()

    def sync_due_in_s(self) -> float | None:
        """Seconds until written records are due for an fdatasync (None: none pending)."""
        if not self._dirty or self.fsync != "interval":
            return None
        return max(0.0, self._last_sync + self.fsync_interval_s - time.monotonic())

    def sync_if_due(self) -> None:
        """For ``interval``: fdatasync when the oldest unsynced record is due."""
        if (self._dirty and self._fd is not None
                and time.monotonic() - self._last_sync >= self.fsync_interval_s):
            os.fdatasync(self._fd)
            self._dirty = False
            self._last_sync = time.monotonic()

    def _rotate(self) -> None:
        assert self._fd is not None
        if self.fsync != "never":
            os.fdatasync(self._fd)
        os.close(self._fd)
        self._fd = None
        self._dirty = False
        if self.retain_bytes is not None:
            segs = segments(self.directory)
            total = sum(p.stat().st_size for _, p in segs)
            for _, path in segs[:-1]:
                if total <= self.retain_bytes:
                    break
                total -= path.stat().st_size
                path.unlink()

    def close(self) -> None:
        if self._fd is not None:
            try:
                if self.fsync != "never":
                    os.fdatasync(self._fd)
            except OSError:
                pass
            os.close(self._fd)
            self._fd = None


@dataclass
class ReplayChunk:
    """One answer to "records from seq N": ``lines`` (raw JSON records, in seq order),
    ``next_seq`` (ask for this next), ``end`` (the log holds nothing after them yet),
    ``first_seq`` (the oldest seq the log still holds, None when empty)."""

    lines: list[bytes] = field(default_factory=list)
    next_seq: int = 0
    end: bool = True
    first_seq: int | None = None


class LogReader:
    """Reads a log (possibly being written by another thread or process) from a seq.

    Consecutive requests (``read(next_seq)`` after ``read(n)``) continue from a
    remembered file offset, so a catch-up reads each segment once.
    """

    def __init__(self, directory: Path, cache: int = 64):
        self.directory = Path(directory)
        self._cursors: OrderedDict[int, tuple[Path, int]] = OrderedDict()
        self._cache = cache

    def read(self, from_seq: int, limit: int = 1000, max_bytes: int = 4 << 20) -> ReplayChunk:
        segs = segments(self.directory)
        if not segs:
            return ReplayChunk([], from_seq, True, None)
        first_seq = segs[0][0]
        start = max(from_seq, first_seq)
        cursor = self._cursors.pop(start, None)
        if cursor is not None and cursor[0].exists():
            index = next((i for i, (_, p) in enumerate(segs) if p == cursor[0]), None)
            offset = cursor[1]
        else:
            index = None
        if index is None:
            index = max(i for i, (f, _) in enumerate(segs) if f <= start) \
                if segs[0][0] <= start else 0
            offset = 0
        out: list[bytes] = []
        size = 0
        next_seq = start
        path = segs[index][1]
        while index < len(segs):
            path = segs[index][1]
            with path.open("rb") as f:
                f.seek(offset)
                for line in f:
                    if not line.endswith(b"\n"):
                        break  # being written: not a whole record yet
                    offset += len(line)
                    seq = seq_of(line)
                    if seq is None or seq < start:
                        continue
                    out.append(line[:-1])
                    size += len(line)
                    next_seq = seq + 1
                    if len(out) >= limit or size >= max_bytes:
                        self._remember(next_seq, path, offset)
                        return ReplayChunk(out, next_seq, False, first_seq)
            index += 1
            if index < len(segs):
                offset = 0
        if out:  # the next request most likely continues here
            self._remember(next_seq, path, offset)
        return ReplayChunk(out, next_seq, True, first_seq)

    def _remember(self, seq: int, path: Path, offset: int) -> None:
        self._cursors[seq] = (path, offset)
        while len(self._cursors) > self._cache:
            self._cursors.popitem(last=False)
