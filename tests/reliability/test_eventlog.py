"""The event log on its own: seqs survive a restart, a torn record left by a crash is
cut, segments rotate and are read back across, a full file system is survived; and
damage (truncated, torn, garbage mid-file, a junk segment name, a reboot after an
unclean stop) is reported and never makes a sequence number be given out twice."""

from __future__ import annotations

import json
import resource
import signal

import pytest

from pipeline.stages.publish.eventlog import STATE_FILE, EventLog, LogReader, segment_name, segments
from pipeline.stages.publish.stage import answer_replay


def seqs(lines: list[bytes]) -> list[int]:
    return [json.loads(line)["event_seq"] for line in lines]


def test_a_restarted_writer_continues_after_a_torn_record(tmp_path):
    log = EventLog(tmp_path, fsync="always")
    for i in range(5):
        log.append({"type": "event", "i": i})
    log.close()
    [(_, path)] = segments(tmp_path)
    with path.open("ab") as f:  # a crash in the middle of a write
        f.write(b'{"event_seq":5,"type":"ev')
    again = EventLog(tmp_path)
    assert again.next_seq == 5
    assert any("torn last record" in d for d in again.damage)
    again.append({"type": "event", "i": 5})
    again.close()
    lines = LogReader(tmp_path).read(0).lines
    assert seqs(lines) == [0, 1, 2, 3, 4, 5]
    assert json.loads(lines[-1])["i"] == 5


def test_segments_rotate_are_read_across_and_old_ones_are_deleted(tmp_path):
    log = EventLog(tmp_path, fsync="never", segment_bytes=4096, retain_bytes=3 * 4096)
    for i in range(400):
        log.append({"type": "event", "pad": "x" * 40, "i": i})
    log.close()
    segs = segments(tmp_path)
    assert 2 <= len(segs) <= 4, segs
    first = segs[0][0]
    assert first > 0, "the oldest segments should have been deleted"
    reader = LogReader(tmp_path)
    got, nxt = [], 0
    while True:
        chunk = reader.read(nxt, limit=37)
        got += seqs(chunk.lines)
        nxt = chunk.next_seq
        if chunk.end:
            break
    assert got == list(range(first, 400))
    assert chunk.first_seq == first


def test_replay_requests_are_validated():
    class NoLog:
        def read(self, *_a):
            raise AssertionError("a bad request must not reach the log")

    for body, error in [(b"\x80garbage", "not a JSON object"),
                        (b'{"v": 2, "type": "replay", "from_seq": 0}', "version"),
                        (b'{"v": 1, "type": "dump", "from_seq": 0}', "request type"),
                        (b'{"v": 1, "type": "replay", "from_seq": -1}', "from_seq"),
                        (b'{"v": 1, "type": "replay", "from_seq": 0, "limit": 0}', "limit")]:
        [reply] = answer_replay(body, NoLog(), 0)
        reply = json.loads(reply)
        assert reply["type"] == "error" and error in reply["error"], reply


def test_a_full_file_system_marks_records_not_durable_and_keeps_going(tmp_path):
    """RLIMIT_FSIZE stands in for a full disk here (the pipeline test mounts a real
    tiny tmpfs): writes beyond it fail with EFBIG, as ENOSPC would."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old = signal.getsignal(signal.SIGXFSZ)
    log = EventLog(tmp_path, fsync="never")
    resource.setrlimit(resource.RLIMIT_FSIZE, (2000, hard))
    try:
        out = [json.loads(log.append({"type": "event", "i": i})) for i in range(100)]
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old)
    assert [r["event_seq"] for r in out] == list(range(100))
    durable = [r for r in out if "durable" not in r]
    assert 10 < len(durable) < 100 and all(r["durable"] is False for r in out[len(durable):])
    assert log.failures == 100 - len(durable)
    assert "File too large" in log.last_error or "No space left" in log.last_error
    # What was written is whole: no torn record, and writing works again afterwards.
    log.append({"type": "event", "i": 100})
    log.close()
    lines = LogReader(tmp_path).read(0, limit=1000).lines
    assert seqs(lines) == [*range(len(durable)), 100]


@pytest.mark.parametrize("policy", ["always", "interval", "never"])
def test_every_fsync_policy_writes_the_same_log(tmp_path, policy):
    log = EventLog(tmp_path, fsync=policy, fsync_interval_ms=1)
    for i in range(20):
        log.append({"type": "event", "i": i})
    log.close()
    assert seqs(LogReader(tmp_path).read(0).lines) == list(range(20))


def written(directory, n: int, **kw) -> list[int]:
    log = EventLog(directory, fsync="never", **kw)
    out = [json.loads(log.append({"type": "event", "i": i}))["event_seq"] for i in range(n)]
    log.close()
    return out


def test_a_truncated_log_never_reuses_a_sequence_number(tmp_path):
    """The last records are cut away (a restored backup, a hand edit, a lost tail).
    Before: the writer gave their seqs to new records, and a subscriber resuming from
    its last event_seq dropped those as duplicates."""
    assert written(tmp_path, 10) == list(range(10))
    [(_, path)] = segments(tmp_path)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:6]))  # seqs 6..9 gone, cut at a record boundary
    log = EventLog(tmp_path)
    assert log.next_seq > 9
    assert any("truncated" in d for d in log.damage), log.damage
    log.close()


def test_garbage_mid_file_is_skipped_reported_and_loses_no_neighbour(tmp_path):
    written(tmp_path, 10)
    [(_, path)] = segments(tmp_path)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[4] = lines[4][:30] + b"\x00garbage\xff" + lines[4][30:]  # seq 4 damaged
    lines.insert(7, b"not a record at all\n")
    path.write_bytes(b"".join(lines))
    reader = LogReader(tmp_path)
    chunk = reader.read(0)
    assert seqs(chunk.lines) == [0, 1, 2, 3, 5, 6, 7, 8, 9]
    assert chunk.damaged == 2
    log = EventLog(tmp_path)
    assert log.next_seq == 10
    assert any("2 damaged line(s) after seq 3" in d for d in log.damage), log.damage
    log.close()


def test_a_junk_segment_name_is_set_aside_not_followed(tmp_path):
    """Before: an empty ``events-99999999999999999999.jsonl`` made event_seq jump to
    10^20."""
    written(tmp_path, 5)
    (tmp_path / segment_name(10**20 - 1)).write_bytes(b"")
    (tmp_path / segment_name(3)).write_bytes(b"junk\n")
    log = EventLog(tmp_path)
    assert log.next_seq == 5
    assert sorted(p.name for p in tmp_path.glob("*.damaged")) == [
        segment_name(3) + ".damaged", segment_name(10**20 - 1) + ".damaged"]
    assert len([d for d in log.damage if "renamed" in d]) == 2
    log.append({"type": "event"})
    log.close()
    assert seqs(LogReader(tmp_path).read(0).lines) == list(range(6))


def test_after_a_reboot_the_seqs_an_unclean_writer_reserved_are_skipped(tmp_path):
    """A power cut after records were published but before their fdatasync: they are
    gone from the log, not from subscribers. The state file's reservation (fsynced
    before use) is where the next writer starts; a same-boot kill -9 (no page cache
    lost) continues contiguously."""
    log = EventLog(tmp_path, fsync="never")
    for i in range(3):
        log.append({"type": "event", "i": i})
    os_state = json.loads((tmp_path / STATE_FILE).read_text())
    assert os_state["closed"] is False and os_state["reserved"] > 2
    killed = EventLog(tmp_path)  # same boot, never closed: a kill -9
    assert killed.next_seq == 3 and killed.damage == []
    (tmp_path / STATE_FILE).write_text(json.dumps({**os_state, "boot": "another boot"}))
    rebooted = EventLog(tmp_path)
    assert rebooted.next_seq == os_state["reserved"]
    assert any("machine restarted" in d for d in rebooted.damage), rebooted.damage
    log.close()


def test_log_files_are_private_to_their_owner(tmp_path):
    written(tmp_path / "log", 2)
    assert (tmp_path / "log").stat().st_mode & 0o777 == 0o700
    for path in (tmp_path / "log").iterdir():
        assert path.stat().st_mode & 0o077 == 0, path
