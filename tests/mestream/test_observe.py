"""What an operator sees: `mestream subscribe` output and the Prometheus counters."""

from __future__ import annotations

import json
import subprocess
import urllib.request

from pipeline.client import EventSubscriber
from tests.conftest import REPO, free_port, mestream, wait_until, write_config


def endless(tmp_path, port, **metrics):
    return write_config(tmp_path, {
        "name": "t-observe",
        "sources": {"cam": {"type": "testpattern", "width": 64, "height": 48, "fps": 100}},
        "stages": {"capture": {"type": "capture"},
                   "publish": {"type": "publish", "bind": f"tcp://127.0.0.1:{port}",
                               "wait_subscribers": 1}},
        "metrics": metrics,
        "supervisor": {"heartbeat_s": 0.2},
    })


def test_subscribe_prints_json_lines_for_one_stream(tmp_path, run_pipeline):
    port = free_port()
    sub = subprocess.Popen(
        mestream("subscribe", f"tcp://127.0.0.1:{port}", "--stream", "cam", "--json",
                 "--count", "5", "--timeout", "60"),
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    run_pipeline(endless(tmp_path, port))  # waits for the subscriber before frame 0
    out, _ = sub.communicate(timeout=60)
    records = [json.loads(line) for line in out.splitlines()]
    assert sub.returncode == 0
    assert [(r["type"], r["stream"], r["seq"]) for r in records] == [
        ("frame_record", "cam", i) for i in range(5)]
    assert [r["pts_ns"] for r in records] == [i * 10_000_000 for i in range(5)]


def test_subscribe_exits_when_the_streams_end_and_says_why(tmp_path, run_pipeline):
    """Issue 22: it never exited after the streams ended."""
    port = free_port()
    config = write_config(tmp_path, {
        "name": "t-subscribe-end",
        "sources": {"cam": {"type": "testpattern", "width": 64, "height": 48, "fps": 100,
                            "frames": 30}},
        "stages": {"capture": {"type": "capture"},
                   "publish": {"type": "publish", "bind": f"tcp://127.0.0.1:{port}",
                               "wait_subscribers": 1}},
    })
    sub = subprocess.Popen(mestream("subscribe", f"tcp://127.0.0.1:{port}", "--json"),
                           cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    run = run_pipeline(config)
    out, err = sub.communicate(timeout=120)
    records = [json.loads(line) for line in out.splitlines()]
    assert sub.returncode == 0, err
    assert records[-1]["type"] == "end_of_stream"
    assert sum(r["type"] == "frame_record" for r in records) == 30
    assert "stream cam ended; 31 records" in err
    assert run.wait(60) == 0, run.log


def test_subscribe_from_seq_replays_the_log_first(tmp_path, run_pipeline):
    port = free_port()
    with EventSubscriber(f"tcp://127.0.0.1:{port}", timeout_s=60) as first:
        run_pipeline(endless(tmp_path, port))
        for _ in range(20):                 # 20 records are in the log now
            assert first.receive(60) is not None
        late = subprocess.run(
            mestream("subscribe", f"tcp://127.0.0.1:{port}", "--json", "--from-seq", "0",
                     "--count", "5", "--timeout", "60"),
            cwd=REPO, capture_output=True, text=True, timeout=120)
    records = [json.loads(line) for line in late.stdout.splitlines()]
    assert late.returncode == 0, late.stderr
    assert [r["event_seq"] for r in records] == [0, 1, 2, 3, 4]


def test_subscribe_without_a_publisher_says_so_and_fails_at_its_timeout() -> None:
    port = free_port()
    run = subprocess.run(mestream("subscribe", f"tcp://127.0.0.1:{port}", "--json",
                                  "--timeout", "6"),
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and run.stdout == ""
    assert f"no record from tcp://127.0.0.1:{port} yet" in run.stderr
    assert "no record for 6 s; 0 records" in run.stderr


def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    out = {}
    for line in text.decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_prometheus_endpoint_counts_every_stage(tmp_path, run_pipeline):
    port, mport = free_port(), free_port()
    with EventSubscriber(f"tcp://127.0.0.1:{port}", timeout_s=60) as sub:
        run = run_pipeline(endless(tmp_path, port, prometheus_port=mport))
        for _ in range(50):
            assert sub.receive(60) is not None
        out_key = 'mestream_messages_out_total{replica="0",stage="capture",stream="cam"}'
        in_key = 'mestream_messages_in_total{replica="0",stage="publish",stream="cam"}'
        wait_until(lambda: scrape(mport).get(out_key, 0) >= 50
                   and scrape(mport).get(in_key, 0) >= 50, 15, "counters in /metrics")
        # Rates, queue depths and the time each message spent in its stage's code.
        fps = 'mestream_fps{replica="0",stage="publish",stream="cam"}'
        wait_until(lambda: scrape(mport).get(fps, 0) > 0, 15, "a rate in /metrics")
        got = scrape(mport)
        assert 'mestream_queue_depth{replica="0",stage="capture",stream="cam"}' in got
        count = got['mestream_process_seconds_count{replica="0",stage="publish"}']
        assert count >= 50
        assert got['mestream_process_seconds_bucket{le="+Inf",replica="0",stage="publish"}'] \
            == count
        assert 0 < got['mestream_process_seconds_sum{replica="0",stage="publish"}'] < count
    assert run.proc.poll() is None


def test_a_live_source_drops_its_oldest_frames_when_downstream_stalls(tmp_path,
                                                                       run_pipeline):
    """Pause the publish process (SIGSTOP): a file would block, a camera must not. The
    capture keeps reading, drops the oldest frames, counts them; after SIGCONT the
    stream goes on with the newest frames and the gaps show in seq."""
    import os
    import signal

    port, mport = free_port(), free_port()
    config = write_config(tmp_path, {
        "name": "t-live",
        "sources": {"cam": {"type": "python", "factory": "tests.fake_camera:make",
                            "options": {"fps": 200}, "queue": 4}},
        "stages": {"capture": {"type": "capture"},
                   "publish": {"type": "publish", "bind": f"tcp://127.0.0.1:{port}",
                               "wait_subscribers": 1}},
        "metrics": {"prometheus_port": mport},
        "supervisor": {"heartbeat_s": 0.2, "heartbeat_timeout_s": 30},
    })
    drop_key = ('mestream_dropped_total{reason="hwm",replica="0",stage="capture",'
                'stream="cam"}')
    with EventSubscriber(f"tcp://127.0.0.1:{port}", timeout_s=60) as sub:
        run = run_pipeline(config)
        assert sub.receive(60) is not None
        [publish] = run.stage_pids("publish")
        os.kill(publish, signal.SIGSTOP)
        try:
            wait_until(lambda: scrape(mport).get(drop_key, 0) >= 20, 20, "hwm drops")
        finally:
            os.kill(publish, signal.SIGCONT)
        seqs = []
        while len(seqs) < 200:
            record = sub.receive(60)
            assert record is not None
            seqs.append(record["seq"])
    assert seqs == sorted(seqs)
    gaps = sum(b - a - 1 for a, b in zip(seqs, seqs[1:], strict=False))
    assert gaps >= 20, "the frames dropped while downstream stalled must show as seq gaps"
    assert run.proc.poll() is None
