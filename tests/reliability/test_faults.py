"""Faults performed for real on running pipelines: kill -9 of each stage type mid-run,
a stage that hangs (SIGSTOP: no heartbeat). What each test asserts is what
docs/operations.md promises: the stage is back (the supervisor logs how long it
took), streams on other processes are untouched, file streams through a restarted
capture arrive exactly once, and a restarted middle stage loses at most what sat in
its queues (counted as gaps, never duplicated, never out of order).

A network stream that dies and comes back is tested in
tests/pipeline/test_network_source.py (test_a_dead_stream_is_reopened...)."""

from __future__ import annotations

import os
import re
import signal

from pipeline.client import EventSubscriber
from tests.conftest import GRID, grid_clip, write_config
from tests.pipeline.test_capture_publish import write_video
from tests.pipeline.test_classify_stage import model
from tests.reliability.test_replay import free_port_pair

RESTART = re.compile(r"(\S+) restarted: ready ([\d.]+)s after its crash")


def restart_times(log: str) -> dict[str, float]:
    return {m.group(1): float(m.group(2)) for m in RESTART.finditer(log)}


def publish(port: int) -> dict:
    return {"type": "publish", "bind": f"tcp://127.0.0.1:{port}", "wait_subscribers": 1}


def fast_supervisor(**extra) -> dict:
    return {"heartbeat_s": 0.2, "backoff_initial_s": 0.2, **extra}


def test_kill_9_of_one_capture_replica_loses_and_repeats_nothing(tmp_path, run_pipeline):
    port = free_port_pair()
    sources = {}
    for i in range(4):
        path = tmp_path / f"v{i}.avi"
        write_video(path, frames=60, fps=30)
        sources[f"v{i}"] = {"type": "file", "path": str(path), "realtime": True}
    config = write_config(tmp_path, {
        "name": "t-kill-capture", "sources": sources,
        "stages": {"capture": {"type": "capture", "replicas": 2}, "publish": publish(port)},
        "supervisor": fast_supervisor(),
    })
    with EventSubscriber(f"tcp://127.0.0.1:{port}", timeout_s=60) as sub:
        run = run_pipeline(config)
        got: dict[str, list] = {s: [] for s in sources}
        killed = None
        for record in sub.until_end(list(sources)):
            got[record["stream"]].append(record)
            if killed is None and len(got["v0"]) == 20:  # v0, v2 live on capture.0
                [killed] = [p for p in run.stage_pids("capture")
                            if "--replica 0" in open(f"/proc/{p}/cmdline").read()
                            .replace("\0", " ")]
                os.kill(killed, signal.SIGKILL)
    assert run.wait(60) == 0, run.log
    assert "capture.0 crashed (signal SIGKILL); restarting" in run.log
    assert "capture.0" in restart_times(run.log)
    for sid, records in got.items():  # both the restarted replica's and the other's
        assert [r["seq"] for r in records] == list(range(61)), sid
        assert records[-1]["reason"] == "end-of-file"


def test_kill_9_of_an_align_replica_leaves_the_other_untouched(tmp_path, run_pipeline):
    """Middle stage: messages inside the killed process (its input queue, its output
    queue, the one in hand: at most about 2 x hwm + 1) are lost and counted as a gap;
    the rest of its stream arrives in order, never twice, and ends; the stream on the
    other replica loses nothing."""
    port = free_port_pair()
    clips = [GRID / "bbaf2n.mpg", GRID / "lbax4n.mpg"]
    clips = [c if c.exists() else grid_clip() for c in clips]
    config = write_config(tmp_path, {
        "name": "t-kill-align",
        "sources": {f"g{i}": {"type": "file", "path": str(c), "realtime": True}
                    for i, c in enumerate(clips)},
        "stages": {"capture": {"type": "capture"},
                   "align": {"type": "align", "replicas": 2},
                   "publish": publish(port)},
        "transport": {"hwm": 4},
        "supervisor": fast_supervisor(),
    })
    with EventSubscriber(f"tcp://127.0.0.1:{port}", timeout_s=120) as sub:
        run = run_pipeline(config)
        got: dict[str, list] = {"g0": [], "g1": []}
        killed = False
        for record in sub.until_end(["g0", "g1"]):
            got[record["stream"]].append(record)
            if not killed and len(got["g0"]) == 15:  # g0 -> align.0 (round-robin)
                [pid] = [p for p in run.stage_pids("align")
                         if "--replica 0" in open(f"/proc/{p}/cmdline").read()
                         .replace("\0", " ")]
                os.kill(pid, signal.SIGKILL)
                killed = True
    assert run.wait(60) == 0, run.log
    assert "align.0 crashed (signal SIGKILL); restarting" in run.log
    assert "align.0" in restart_times(run.log)
    assert [r["seq"] for r in got["g1"]] == list(range(76)), "the other replica's stream"
    seqs = [r["seq"] for r in got["g0"]]
    assert seqs == sorted(set(seqs)) and seqs[-1] == 75 and got["g0"][-1]["type"] == \
        "end_of_stream"
    lost = 76 - len(seqs)
    assert 0 <= lost <= 2 * 4 + 4, f"{lost} faces lost: more than the queues held"


def test_kill_9_of_spot_then_classify_mid_run(tmp_path, run_pipeline):
    """The whole chain; track records (emit_tracks) give a per-frame heartbeat to
    synchronise on. Both stages come back, the run ends normally, records stay in
    order and unique; what the killed stages held (queues, spotting history) is lost."""
    onnx_path = model(tmp_path)
    port = free_port_pair()
    config = write_config(tmp_path, {
        "name": "t-kill-chain",
        "sources": {"cam": {"type": "python", "factory": "tests.scripted_source:make",
                            "options": {"fps": 30, "seconds": 5, "onset_s": 3.5},
                            "realtime": True}},
        "stages": {"capture": {"type": "capture"},
                   "align": {"type": "align", "alignment": {"size": 64}},
                   "spot": {"type": "spot", "clip_frames": 18, "emit_tracks": True},
                   "classify": {"type": "classify", "model": str(onnx_path),
                                "max_delay_ms": 10},
                   "publish": publish(port)},
        "transport": {"hwm": 4},
        "supervisor": fast_supervisor(),
    })
    kills = {20: "spot", 50: "classify"}
    with EventSubscriber(f"tcp://127.0.0.1:{port}", timeout_s=120) as sub:
        run = run_pipeline(config)
        records = []
        for record in sub.until_end(["cam"]):
            records.append(record)
            tracks = sum(r["type"] == "track" for r in records)
            if record["type"] == "track" and tracks in kills:
                [pid] = run.stage_pids(kills.pop(tracks))
                os.kill(pid, signal.SIGKILL)
    assert run.wait(60) == 0, run.log
    for stage in ("spot", "classify"):
        assert f"{stage}.0 crashed (signal SIGKILL); restarting" in run.log
        assert f"{stage}.0" in restart_times(run.log)
    tracks = [r["seq"] for r in records if r["type"] == "track"]
    assert tracks == sorted(set(tracks)) and len(tracks) > 150 - 4 * (2 * 4 + 4)
    assert records[-1]["type"] == "end_of_stream"
    events = [r for r in records if r["type"] == "event"]
    assert len(events) <= 1 and [r["event_seq"] for r in records] == list(range(len(records)))


def test_a_hung_stage_is_killed_and_restarted(tmp_path, run_pipeline):
    """SIGSTOP: the process is alive but silent. After heartbeat_timeout_s the
    supervisor kills and restarts it; with replay the subscriber still gets every
    record that was published, once."""
    port = free_port_pair()
    config = write_config(tmp_path, {
        "name": "t-hang",
        "sources": {"cam": {"type": "testpattern", "width": 64, "height": 48, "fps": 50,
                            "frames": 150, "realtime": True}},
        "stages": {"capture": {"type": "capture"}, "publish": publish(port)},
        "supervisor": fast_supervisor(heartbeat_timeout_s=1.5),
    })
    with EventSubscriber(f"tcp://127.0.0.1:{port}", timeout_s=60) as sub:
        run = run_pipeline(config)
        records = []
        for record in sub.until_end(["cam"]):
            records.append(record)
            if len(records) == 20:
                [pid] = run.stage_pids("publish")
                os.kill(pid, signal.SIGSTOP)
        assert sub.lost == 0
    assert run.wait(60) == 0, run.log
    assert re.search(r"publish\.0 sent no heartbeat for \d+s: killing it", run.log)
    assert "publish.0 crashed (signal SIGKILL); restarting" in run.log
    assert [r["event_seq"] for r in records] == list(range(len(records)))
    seqs = [r["seq"] for r in records]
    assert seqs == sorted(set(seqs)) and seqs[-1] == 150


def test_a_stage_that_finished_but_hangs_at_exit_is_ended_not_restarted(tmp_path,
                                                                         run_pipeline):
    """Its streams are complete ("done" reached the supervisor): missing heartbeats must
    not get it restarted (a restarted capture would read its files again); after
    stop_timeout_s it is killed and the run ends normally."""
    port = free_port_pair()
    config = write_config(tmp_path, {
        "name": "t-exit-hang",
        "sources": {"cam": {"type": "python", "factory":
                            "tests.reliability.faulty_source:hang_at_exit",
                            "options": {"frames": 5}, "realtime": False}},
        "stages": {"capture": {"type": "capture"}, "publish": publish(port)},
        "supervisor": fast_supervisor(heartbeat_timeout_s=4.0, stop_timeout_s=2.0),
    })
    with EventSubscriber(f"tcp://127.0.0.1:{port}", timeout_s=60) as sub:
        run = run_pipeline(config)
        records = list(sub.until_end(["cam"]))
    assert run.wait(60) == 0, run.log
    assert [r["seq"] for r in records] == list(range(6))
    assert "capture.0 finished its streams" in run.log and "not restarted" in run.log
    assert "restarting" not in run.log
