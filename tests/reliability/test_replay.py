"""Durable events end to end: real pipelines, real subscribers. A subscriber that
disconnects mid-run and comes back, one that joins late, and one that stays through a
publish stage killed with SIGKILL each get every record exactly once, in order; a full
disk leaves live publishing running and says so."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
import yaml

from pipeline.client import EventSubscriber
from pipeline.runtime.sockets import free_tcp_port
from tests.conftest import write_config


def pattern_pipeline(tmp_path, port, frames, fps=50, event_log=None, name="t-replay",
                     **extra):
    return write_config(tmp_path, {
        "name": name,
        "sources": {"cam": {"type": "testpattern", "width": 64, "height": 48, "fps": fps,
                            "frames": frames, "realtime": True}},
        "stages": {"capture": {"type": "capture"},
                   "publish": {"type": "publish", "bind": f"tcp://127.0.0.1:{port}",
                               "wait_subscribers": 1, "event_log": event_log or {}}},
        "supervisor": {"heartbeat_s": 0.2, "backoff_initial_s": 0.2},
        **extra,
    })


def free_port_pair() -> int:
    """A port whose successor (the replay endpoint) is free too."""
    return free_tcp_port(consecutive=2)


def test_a_subscriber_that_leaves_and_one_that_joins_late_miss_nothing(tmp_path,
                                                                       run_pipeline):
    port = free_port_pair()
    endpoint = f"tcp://127.0.0.1:{port}"
    config = pattern_pipeline(tmp_path, port, frames=150)
    with EventSubscriber(endpoint, timeout_s=60, replay=False) as watcher:
        run = run_pipeline(config)
        # A leaves after 30 records ...
        with EventSubscriber(endpoint, timeout_s=60, from_seq=0) as a:
            first = [a.receive(30) for _ in range(30)]
        assert None not in first
        # ... and comes back once the pipeline has published 40 more without it; a late
        # joiner asks for everything from 0.
        for record in watcher:
            if record["event_seq"] >= first[-1]["event_seq"] + 40:
                break
        with EventSubscriber(endpoint, timeout_s=60, from_seq=first[-1]["event_seq"] + 1) \
                as back, EventSubscriber(endpoint, timeout_s=60, from_seq=0) as late:
            rest = list(back.until_end(["cam"]))
            everything = list(late.until_end(["cam"]))
            assert back.replayed >= 40 and late.replayed >= 70
            assert back.lost == late.lost == 0
    assert run.wait(60) == 0, run.log
    for records in (first + rest, everything):
        assert [r["event_seq"] for r in records] == list(range(151))
        assert [r["seq"] for r in records] == list(range(151))
        assert records[-1]["type"] == "end_of_stream"


def test_a_killed_publish_stage_loses_no_record_a_subscriber_was_sent(tmp_path,
                                                                      run_pipeline):
    """kill -9 of publish: the restarted stage reads its log and continues the
    event_seq; the subscriber's SUB socket reconnects, the gap is filled from the log.
    Frames inside the dead process's input queue never reached the log: they show as a
    jump in the stream's seq (at most ~2 x hwm), never as a missing event_seq."""
    port = free_port_pair()
    config = pattern_pipeline(tmp_path, port, frames=150)
    with EventSubscriber(f"tcp://127.0.0.1:{port}", timeout_s=60) as sub:
        run = run_pipeline(config)
        records = []
        for record in sub.until_end(["cam"]):
            records.append(record)
            if len(records) == 30:
                [pid] = run.stage_pids("publish")
                os.kill(pid, signal.SIGKILL)
        assert sub.lost == 0
    assert run.wait(60) == 0, run.log
    assert "publish.0 crashed (signal SIGKILL); restarting" in run.log
    events = [r["event_seq"] for r in records]
    assert events == list(range(len(records)))
    seqs = [r["seq"] for r in records]
    assert seqs == sorted(set(seqs)) and seqs[-1] == 150
    assert len(seqs) > 150 - 2 * 16 - 5


def tiny_tmpfs(path) -> None:
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); "
                    "test_eventlog.py covers a full disk with RLIMIT_FSIZE")


def test_a_full_disk_keeps_live_publishing_and_says_so(tmp_path, run_pipeline):
    full = tmp_path / "full"
    tiny_tmpfs(full)
    try:
        port = free_port_pair()
        config = pattern_pipeline(tmp_path, port, frames=120, fps=200,
                                  event_log={"dir": str(full)})
        with EventSubscriber(f"tcp://127.0.0.1:{port}", timeout_s=60) as sub:
            run = run_pipeline(config)
            records = list(sub.until_end(["cam"]))
        assert run.wait(60) == 0, run.log
    finally:
        subprocess.run(["umount", str(full)], check=False)
    assert [r["seq"] for r in records] == list(range(121)), "live publishing must go on"
    assert [r["event_seq"] for r in records] == list(range(121))
    not_durable = [r for r in records if r.get("durable") is False]
    assert 0 < len(not_durable) < 121
    assert "event log write failed: No space left on device" in run.log


def test_a_subscriber_that_never_reads_is_counted_and_the_others_miss_nothing(tmp_path,
                                                                              run_pipeline, zctx):
    """Before: ZeroMQ dropped records to a slow subscriber silently. Now each record a
    full subscriber could not take is counted (drop reason subscriber_hwm) and logged,
    and a replaying subscriber still gets every record once."""
    import zmq

    port = free_port_pair()
    config = pattern_pipeline(tmp_path, port, frames=20000, fps=50)
    body = yaml.safe_load(config.read_text())
    body["sources"]["cam"]["realtime"] = False
    body["stages"]["publish"].update(wait_subscribers=2, hwm=10)
    config.write_text(yaml.safe_dump(body, sort_keys=False))
    stuck = zctx.socket(zmq.SUB)  # subscribes, then never reads
    stuck.setsockopt(zmq.RCVHWM, 10)
    stuck.setsockopt(zmq.RCVBUF, 4096)
    stuck.setsockopt(zmq.SUBSCRIBE, b"")
    stuck.connect(f"tcp://127.0.0.1:{port}")
    try:
        with EventSubscriber(f"tcp://127.0.0.1:{port}", timeout_s=120) as sub:
            run = run_pipeline(config)
            records = list(sub.until_end(["cam"]))
        assert run.wait(120) == 0, run.log
    finally:
        stuck.close(linger=0)
    assert [r["seq"] for r in records] == list(range(20001))
    assert sub.lost == 0
    assert "not sent live: a subscriber is 10 records behind" in run.log
    assert "were not sent live to a slow subscriber" in run.log


def test_a_subscriber_that_stays_gets_the_next_run_of_the_pipeline_whole(tmp_path,
                                                                         run_pipeline):
    """The same YAML run twice while one subscriber stays connected: the second run has
    a log of its own (event_seq from 0 again) and the subscriber takes it from its first
    record instead of dropping it as already seen."""
    port = free_port_pair()
    config = pattern_pipeline(tmp_path, port, frames=30)
    with EventSubscriber(f"tcp://127.0.0.1:{port}", timeout_s=60) as sub:
        first = run_pipeline(config)
        one = list(sub.until_end(["cam"]))
        assert first.wait(60) == 0, first.log
        second = run_pipeline(config)
        two = list(sub.until_end(["cam"]))
        assert second.wait(60) == 0, second.log
    assert [r["seq"] for r in one] == [r["seq"] for r in two] == list(range(31))
    assert [r["event_seq"] for r in two] == list(range(31))
    assert len({r["run_id"] for r in one} | {r["run_id"] for r in two}) == 2
    assert sub.runs_seen == 1 and sub.lost == 0
