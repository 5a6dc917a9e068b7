"""The supervisor: a stage killed mid-run is restarted and the run completes without
losing or repeating a frame; Ctrl-C stops everything cleanly; a stage that keeps
crashing ends the run with the reason."""

from __future__ import annotations

import os
import signal

from pipeline.client import EventSubscriber
from tests.conftest import alive, free_port, wait_until, write_config


def pattern_config(tmp_path, port, frames, fps=50, **extra):
    return write_config(tmp_path, {
        "name": "t-sup",
        "sources": {"cam": {"type": "testpattern", "width": 160, "height": 120, "fps": fps,
                            **({"frames": frames} if frames else {}), "realtime": True}},
        "stages": {"capture": {"type": "capture"},
                   "publish": {"type": "publish", "bind": f"tcp://127.0.0.1:{port}",
                               "wait_subscribers": 1}},
        "supervisor": {"heartbeat_s": 0.2, "backoff_initial_s": 0.2, **extra},
    })


def test_killed_capture_is_restarted_and_no_frame_is_lost_or_repeated(tmp_path,
                                                                        run_pipeline):
    port = free_port()
    config = pattern_config(tmp_path, port, frames=150)
    with EventSubscriber(f"tcp://127.0.0.1:{port}", timeout_s=60) as sub:
        run = run_pipeline(config)
        seqs, killed = [], None
        for record in sub.until_end(["cam"]):
            if record["type"] == "frame_record":
                seqs.append(record["seq"])
            if len(seqs) == 40 and killed is None:
                [killed] = run.stage_pids("capture")
                os.kill(killed, signal.SIGKILL)
        assert record["type"] == "end_of_stream" and record["reason"] == "end-of-file"
    assert run.wait(60) == 0, run.log
    assert not alive(killed)
    assert "capture.0 crashed (signal SIGKILL); restarting" in run.log
    assert seqs == list(range(150)), "a frame was lost or repeated across the restart"


def test_killed_publish_is_restarted_and_the_run_completes(tmp_path, run_pipeline):
    port = free_port()
    config = pattern_config(tmp_path, port, frames=120)
    with EventSubscriber(f"tcp://127.0.0.1:{port}", timeout_s=60) as sub:
        run = run_pipeline(config)
        seqs = []
        for record in sub.until_end(["cam"]):
            seqs.append(record["seq"])
            if len(seqs) == 20:
                [pid] = run.stage_pids("publish")
                os.kill(pid, signal.SIGKILL)
    assert run.wait(60) == 0, run.log
    assert "publish.0 crashed (signal SIGKILL); restarting" in run.log
    # Frames queued inside the killed process are gone (at most a socket's worth);
    # what arrives is in order and ends with the stream's end.
    assert seqs == sorted(set(seqs)) and seqs[-1] == 120
    assert len(seqs) > 120 - 2 * 16 - 5


def test_sigint_stops_every_process_and_exits_0(tmp_path, run_pipeline):
    port = free_port()
    config = pattern_config(tmp_path, port, frames=None)  # endless
    with EventSubscriber(f"tcp://127.0.0.1:{port}", timeout_s=60) as sub:
        run = run_pipeline(config)
        first = sub.receive(60)
        assert first is not None and first["type"] == "frame_record"
        children = run.stage_pids()
        assert len(children) == 2
        run.proc.send_signal(signal.SIGINT)
        last = None
        for record in sub:
            last = record
            if record["type"] == "end_of_stream":
                break
        assert last is not None and last["reason"] == "stopped"
    assert run.wait(30) == 0, run.log
    wait_until(lambda: not any(alive(p) for p in children), 10, "children to exit")


def test_a_stage_that_keeps_crashing_ends_the_run_with_the_reason(tmp_path, run_pipeline):
    port = free_port()
    config = write_config(tmp_path, {
        "name": "t-crash",
        "sources": {"cam": {"type": "python", "factory": "tests.crashing_source:make",
                            "options": {"code": 7}}},
        "stages": {"capture": {"type": "capture"},
                   "publish": {"type": "publish", "bind": f"tcp://127.0.0.1:{port}"}},
        "supervisor": {"max_restarts": 2, "backoff_initial_s": 0.1},
    })
    run = run_pipeline(config)
    assert run.wait(60) == 1
    assert "stage capture.0 crashed 3 times" in run.log
    assert "exit code 7" in run.log
    assert not any(alive(p) for p in run.stage_pids())
