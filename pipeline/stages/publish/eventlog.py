"""The publish stage's durable event log: append-only segments of checksummed records,
read back for replay.

Every record the publish stage sends is first given the log's next ``event_seq`` (0, 1,
2, ... across restarts of the stage: the log is read back on start) and appended to the
log, then published. Segments are files named by the first seq they hold
(``events-00000000000000000000.jsonl``), so a replay from seq N opens the last segment
starting at or before N and reads on.

- **Records are framed**: one line each, ``<length:8 hex> <crc32:8 hex> <JSON>\n``
  (the JSON is what was published, ``event_seq`` its first key; ``cut -c19-`` shows
  it). A line whose length or checksum does not match is damaged: readers skip it and
  count it, recovery reports it; nothing after it is lost.
- **A sequence number is never given out twice**, whatever happened to the files: the
  writer reserves seqs ahead in ``state.json`` (written before any of them is used)
  and records there how far it got (on each sync, and exactly on close). On start,
  the next seq is after the last valid record; but when the log holds less than
  ``state.json`` says was written (a truncated or deleted segment), or the machine was
  rebooted since an unclean stop (records after the last fsync may have been published
  and then lost with the page cache), it starts after the reservation instead and
  reports the skipped seqs. A subscriber resuming from its last ``event_seq`` never
  mistakes a new record for one it has.
- **Damage is reported, not hidden**: a torn last line left by a crash is cut; a
  segment whose name does not match its first record (or with no valid record) is
  renamed ``*.damaged`` and left for inspection; damaged lines are counted. Each finding
  is one line in :attr:`EventLog.damage` (the publish stage logs and counts them).
- **fsync policy**: ``always`` (fdatasync after every record: survives a power cut,
  slowest), ``interval`` (at most ``fsync_interval_ms`` of records at risk from a power
  cut; a killed process loses nothing, the kernel holds its writes), ``never``.
- **Each record is one ``write(2)`` of a whole line**, so a reader in another thread or
  process never sees half a record except a torn last line after a crash.
- **A full disk never stops publishing**: the failed write is undone (truncated back),
  the error is logged once with its cause and counted, the record is published with
  ``"durable": false``, and every later record tries again; the first success after a
  failure is logged too.

Why one module over 400 lines: the segment files, their names, the torn-line and damage
rules, and the writer and reader that must agree on them byte for byte.

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

Why one module over 400 lines: the log's record format, writer, reader and repair hold
one invariant (a seq is never reused, a damaged record is reported, not replayed) that
is easier to check in one place.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger(__name__)

FsyncPolicy = Literal["always", "interval", "never"]
SEGMENT_GLOB = "events-*.jsonl"
STATE_FILE = "state.json"
_SEGMENT = re.compile(r"^events-(\d{20})\.jsonl$")
_SEQ = re.compile(rb'^\{"event_seq":(\d+)[,}]')
_FRAME = re.compile(rb"^([0-9a-f]{8}) ([0-9a-f]{8}) ")
FRAME_PREFIX = 18  # "<length:8> <crc32:8> "
RESERVE = 1024  # seqs reserved in state.json at a time (one small fsynced write each)
STATE_EVERY_S = 0.2  # how often the state file learns the last written seq


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


def frame(body: bytes) -> bytes:
    """One log line for a record's JSON ``body``: length and CRC-32, then the body."""
    return b"%08x %08x " % (len(body), zlib.crc32(body)) + body + b"\n"


def unframe(line: bytes) -> bytes | None:
    """The JSON body of one log line (without its newline), None when it is damaged.
    Lines of logs written before framing (a bare JSON object) pass unchecked."""
    m = _FRAME.match(line)
    if m is None:
        return line if _SEQ.match(line) else None
    body = line[FRAME_PREFIX:]
    if int(m.group(1), 16) != len(body) or int(m.group(2), 16) != zlib.crc32(body):
        return None
    return body


def seq_of(body: bytes) -> int | None:
    """The ``event_seq`` of one record's JSON (always its first key), without parsing it."""
    m = _SEQ.match(body)
    return int(m.group(1)) if m else None


def boot_id() -> str:
    """This boot of the machine: a page cache that survived (same boot) lost nothing a
    killed process wrote."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


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


@dataclass
class _Scan:
    """What one segment holds: its valid records' first and last seq, damaged lines."""

    first: int | None = None
    last: int | None = None
    damaged: int = 0
    damaged_after: int | None = None  # the last valid seq before the first damaged line
    torn_bytes: int = 0  # a last line without its newline (a crash mid-write)
    good_end: int = 0  # byte offset after the last whole line


def _scan(path: Path) -> _Scan:
    data = path.read_bytes()
    scan = _Scan(good_end=data.rfind(b"\n") + 1)
    scan.torn_bytes = len(data) - scan.good_end
    for line in data[:scan.good_end].splitlines():
        body = unframe(line)
        seq = None if body is None else seq_of(body)
        if seq is None:
            if scan.damaged == 0:
                scan.damaged_after = scan.last
            scan.damaged += 1
            continue
        if scan.first is None:
            scan.first = seq
        scan.last = seq if scan.last is None else max(scan.last, seq)
    return scan


class EventLog:
    """The writer: one per publish stage process.

    Args:
        directory: where the segments live (created if missing, mode 0700).
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
        self.damage: list[str] = []  # what recovery found wrong, one line each
        self._failing = False
        self._fd: int | None = None
        self._size = 0
        self._last_sync = time.monotonic()
        self._dirty = False
        self._boot = boot_id()
        self._reserved = 0       # seqs below this may have been given out
        self._state_written = 0.0
        # A write beyond RLIMIT_FSIZE raises SIGXFSZ, whose default action kills the
        # process; ignored, the write fails with EFBIG and is handled like a full disk.
        try:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        except ValueError:  # not the main thread: leave the process's handlers alone
            pass
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.next_seq = self._recover()
        self._reserved = self.next_seq

    # -- recovery --------------------------------------------------------------------
    def _report(self, text: str) -> None:
        self.damage.append(text)
        log.warning("event log %s: %s", self.directory, text)

    def _quarantine(self, path: Path, why: str) -> None:
        target = path.with_name(path.name + ".damaged")
        path.rename(target)
        self._report(f"{path.name} {why}: renamed {target.name}, left for inspection")

    def _read_state(self) -> dict[str, Any]:
        try:
            state = json.loads((self.directory / STATE_FILE).read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            self._report(f"{STATE_FILE} unreadable ({exc}); seqs after the last record "
                         "are assumed unused")
            return {}
        return state if isinstance(state, dict) else {}

    def _recover(self) -> int:
        """The next seq: after the last valid record, or after what state.json says may
        have been given out when the log has lost records (module docstring)."""
        last: int | None = None
        for first, path in segments(self.directory):
            scan = _scan(path)
            if scan.torn_bytes:
                self._report(f"cut a torn last record ({scan.torn_bytes} bytes) left by a "
                             f"crash from {path.name}")
                with path.open("r+b") as f:
                    f.truncate(scan.good_end)
            if scan.first is None:
                if scan.good_end == 0 and first == (0 if last is None else last + 1):
                    continue  # an empty newest segment, created just before a crash
                self._quarantine(path, "holds no valid record")
                continue
            if scan.first < first:
                self._quarantine(path, f"starts at seq {scan.first}, below its name")
                continue
            if scan.damaged:
                after = "the start" if scan.damaged_after is None else \
                    f"seq {scan.damaged_after}"
                self._report(f"{path.name}: {scan.damaged} damaged line(s) after {after} "
                             "skipped (checksum or framing wrong); the records around "
                             "them are kept")
            last = scan.last if last is None else max(last, scan.last)
        nxt = 0 if last is None else last + 1
        state = self._read_state()
        reserved = state.get("reserved")
        written = state.get("written")
        if not isinstance(reserved, int) or not isinstance(written, int):
            return nxt
        if written >= nxt:  # the log holds less than was written: records were lost
            self._report(f"records up to seq {written} were written but the log ends at "
                         f"{nxt - 1} (truncated or deleted); seqs {nxt}..{reserved - 1} "
                         "are skipped so none is reused")
            return max(nxt, reserved)
        if not state.get("closed") and state.get("boot") != self._boot:
            if reserved > nxt:
                self._report(f"the machine restarted since an unclean stop: records after "
                             f"seq {nxt - 1} may have been published and lost with the "
                             f"page cache; seqs {nxt}..{reserved - 1} are skipped")
            return max(nxt, reserved)
        return nxt

    def _write_state(self, closed: bool = False, sync: bool = False) -> None:
        """state.json: the reservation and the last seq written (atomic replace)."""
        body = json.dumps({"reserved": self._reserved, "written": self.next_seq - 1,
                           "closed": closed, "boot": self._boot}).encode()
        tmp = self.directory / (STATE_FILE + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, body)
            if sync and self.fsync != "never":
                os.fdatasync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.directory / STATE_FILE)
        self._state_written = time.monotonic()

    # -- writing ---------------------------------------------------------------------
    def _open_segment(self, seq: int) -> None:
        segs = segments(self.directory)
        if segs and segs[-1][1].stat().st_size < self.segment_bytes and segs[-1][0] <= seq:
            path = segs[-1][1]
        else:
            path = self.directory / segment_name(seq)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = os.fstat(self._fd).st_size

    def append(self, record: dict[str, Any]) -> bytes:
        """Give ``record`` the next ``event_seq``, write it, return the JSON to publish
        (with ``"durable": false`` added when the write failed)."""
        seq = self.next_seq
        body = json.dumps({"event_seq": seq, **record}, separators=(",", ":"),
                          default=str).encode()
        try:
            if seq >= self._reserved:  # reserve before use: a seq is never given twice
                self._reserved = seq + RESERVE
                self._write_state(sync=True)
            self.next_seq += 1
            self._write(frame(body), seq)
        except OSError as exc:
            self.next_seq = seq + 1
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
        if time.monotonic() - self._state_written >= STATE_EVERY_S:
            try:
                self._write_state()
            except OSError:
                pass  # only truncation detection is weaker until the next one
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
        try:  # a clean stop: the next writer knows exactly where this one ended
            self._write_state(closed=True, sync=True)
        except OSError as exc:
            log.warning("event log %s: state not saved at close: %s", self.directory, exc)


@dataclass
class ReplayChunk:
    """One answer to "records from seq N": ``lines`` (raw JSON records, in seq order),
    ``next_seq`` (ask for this next), ``end`` (the log holds nothing after them yet),
    ``first_seq`` (the oldest seq the log still holds, None when empty), ``damaged``
    (damaged lines skipped on the way)."""

    lines: list[bytes] = field(default_factory=list)
    next_seq: int = 0
    end: bool = True
    first_seq: int | None = None
    damaged: int = 0


class LogReader:
    """Reads a log (possibly being written by another thread or process) from a seq.

    Consecutive requests (``read(next_seq)`` after ``read(n)``) continue from a
    remembered file offset, so a catch-up reads each segment once. Damaged lines are
    skipped and counted (:attr:`damaged`).
    """

    def __init__(self, directory: Path, cache: int = 64):
        self.directory = Path(directory)
        self.damaged = 0
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
        damaged = 0
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
                    body = unframe(line[:-1])
                    seq = None if body is None else seq_of(body)
                    if seq is None:
                        damaged += 1
                        continue
                    if seq < start:
                        continue
                    assert body is not None
                    out.append(body)
                    size += len(body)
                    next_seq = seq + 1
                    if len(out) >= limit or size >= max_bytes:
                        self._remember(next_seq, path, offset)
                        self.damaged += damaged
                        return ReplayChunk(out, next_seq, False, first_seq, damaged)
            index += 1
            if index < len(segs):
                offset = 0
        if out:  # the next request most likely continues here
            self._remember(next_seq, path, offset)
        self.damaged += damaged
        return ReplayChunk(out, next_seq, True, first_seq, damaged)

    def _remember(self, seq: int, path: Path, offset: int) -> None:
        self._cursors[seq] = (path, offset)
        while len(self._cursors) > self._cache:
            self._cursors.popitem(last=False)
