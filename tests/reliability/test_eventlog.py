"""The event log on its own: seqs survive a restart, a torn record left by a crash is
cut, segments rotate and are read back across, a full file system is survived."""

from __future__ import annotations

import json
import resource
import signal

import pytest

from pipeline.eventlog import EventLog, LogReader, segments
from pipeline.stages.publish import answer_replay


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
    again.append({"type": "event", "i": 5})
    again.close()
    lines = path.read_bytes().splitlines()
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
