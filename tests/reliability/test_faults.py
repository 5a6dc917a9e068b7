"""Faults performed for real on running pipelines: kill -9 of each stage type mid-run,
a stage that hangs (SIGSTOP: no heartbeat). What each test asserts is what
docs/operations.md promises: the stage is back (the supervisor logs how long it
took), streams on other processes are untouched, and file streams arrive exactly
once whichever stage was killed: through a restarted capture (it resumes a little
before its last frame; downstream drops the repeats), and through a restarted middle
stage (capture re-reads the stream from the last stage's watermark as a new epoch;
publish drops what it had already published).

A network stream that dies and comes back is tested in
tests/pipeline/sources/test_network_source.py (test_a_dead_stream_is_reopened...)."""

from __future__ import annotations

import os
import re
import signal

from pipeline.client import EventSubscriber
from tests.conftest import GRID, grid_clip, wait_until, write_config
from tests.pipeline.stages.test_capture_publish import write_video
from tests.pipeline.stages.test_classify_stage import model
from tests.reliability.test_replay import free_port_pair, pattern_pipeline

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


def test_kill_9_of_an_align_replica_loses_nothing(tmp_path, run_pipeline):
    """Middle stage: what sat in the killed process (its queues, the frame in hand) is
    read again by capture, so its stream still arrives whole, in order, once; the
    stream on the other replica is not re-read at all."""
    port = free_port_pair()
    clips = [GRID / "bbaf2n.mpg", GRID / "lbax4n.mpg"]
    clips = [c if c.exists() else grid_clip() for c in clips]
    config = write_config(tmp_path, {
        "name": "t-kill-align",
        "sources": {f"g{i}": {"type": "file", "path": str(c), "realtime": False}
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
    assert {r["epoch"] for r in got["g1"]} == {0}, "the other stream was re-read"
    assert [r["seq"] for r in got["g0"]] == list(range(76)), "a face lost or repeated"
    assert got["g0"][-1]["type"] == "end_of_stream"
    assert "capture.0: re-read g0 from seq" in run.log


def test_a_stream_capture_had_finished_is_read_again_when_publish_is_killed(
        tmp_path, run_pipeline):
    """Queues big enough for the whole file: capture reads it all and drains while
    publish is stopped (SIGSTOP) with most of it queued; publish is then killed. The
    finished stream is read again by a new capture thread from publish's last
    watermark, and every face still arrives once."""
    port = free_port_pair()
    clip = GRID / "bbaf2n.mpg"
    clip = clip if clip.exists() else grid_clip()
    config = write_config(tmp_path, {
        "name": "t-reread-finished",
        "sources": {"g0": {"type": "file", "path": str(clip), "realtime": False}},
        "stages": {"capture": {"type": "capture"},
                   "align": {"type": "align", "alignment": {"size": 64}},
                   "publish": publish(port)},
        "transport": {"hwm": 200},
        "supervisor": fast_supervisor(heartbeat_timeout_s=30),
    })
    with EventSubscriber(f"tcp://127.0.0.1:{port}", timeout_s=120) as sub:
        run = run_pipeline(config)
        records = []
        for record in sub.until_end(["g0"]):
            records.append(record)
            if len(records) == 10:
                [pid] = run.stage_pids("publish")
                os.kill(pid, signal.SIGSTOP)
                wait_until(lambda: "capture.0 drained" in run.log, 60, "capture to drain")
                os.kill(pid, signal.SIGKILL)
    assert run.wait(60) == 0, run.log
    assert "capture.0: re-read g0 from seq" in run.log
    assert [r["seq"] for r in records] == list(range(76))
    assert records[-1]["type"] == "end_of_stream" and records[-1]["epoch"] == 1


def test_kill_9_of_spot_then_classify_mid_run(tmp_path, run_pipeline):
    """The whole chain; track records (emit_tracks) give a per-frame heartbeat to
    synchronise on. spot is killed after the scripted micro-expression ended but
    before its event left (the spotter still held it), classify a little later. Both
    come back, the run ends normally, every frame's track record arrives once, and the
    expression's event arrives exactly once."""
    onnx_path = model(tmp_path)
    port = free_port_pair()
    kills = {120: "spot", 135: "classify"}  # the expression: frames 105-113
    # The source holds two frames past each kill point until that kill is done: under
    # load the subscriber may lag the pipeline by more than the rest of the stream.
    gates = {track + 2: tmp_path / f"killed-{stage}" for track, stage in kills.items()}
    config = write_config(tmp_path, {
        "name": "t-kill-chain",
        "sources": {"cam": {"type": "python", "factory": "tests.scripted_source:make",
                            "options": {"fps": 30, "seconds": 5, "onset_s": 3.5,
                                        "gates": {str(k): str(v)
                                                  for k, v in gates.items()}},
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
    with EventSubscriber(f"tcp://127.0.0.1:{port}", timeout_s=120) as sub:
        run = run_pipeline(config)
        records = []
        for record in sub.until_end(["cam"]):
            records.append(record)
            tracks = sum(r["type"] == "track" for r in records)
            if record["type"] == "track" and tracks in kills:
                stage = kills.pop(tracks)
                [pid] = run.stage_pids(stage)
                os.kill(pid, signal.SIGKILL)
                (tmp_path / f"killed-{stage}").touch()
    assert run.wait(60) == 0, run.log
    for stage in ("spot", "classify"):
        assert f"{stage}.0 crashed (signal SIGKILL); restarting" in run.log
        assert f"{stage}.0" in restart_times(run.log)
    assert [r["seq"] for r in records if r["type"] == "track"] == list(range(150))
    assert records[-1]["type"] == "end_of_stream"
    events = [r for r in records if r["type"] == "event"]
    assert len(events) == 1, events
    assert 3400e6 <= events[0]["interval"]["apex_ns"] <= 3900e6
    assert [r["event_seq"] for r in records] == list(range(len(records)))
    assert max(r["epoch"] for r in records) == 2  # two re-reads


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


def pattern_config(tmp_path, port: int, frames: int, name: str, **supervisor) -> object:
    return pattern_pipeline(tmp_path, port, frames, name=name,
                            supervisor=fast_supervisor(**supervisor))


def test_a_new_run_starts_at_once_after_its_supervisor_was_killed(tmp_path, run_pipeline):
    """kill -9 of `mestream run`: its stages die with it (no orphan lives on to send
    its "done" to the next supervisor or hold the endpoints), and the same YAML started
    again at once runs to its end. Before: orphans lived ~30 s and the new run failed."""
    from tests.conftest import alive

    port = free_port_pair()
    config = pattern_config(tmp_path, port, 250, "t-kill-supervisor")
    with EventSubscriber(f"tcp://127.0.0.1:{port}", timeout_s=60) as sub:
        first = run_pipeline(config)
        for n, _record in enumerate(sub, start=1):
            if n == 20:
                break
        orphans = first.stage_pids()
        assert len(orphans) == 2
        first.proc.kill()
        assert first.proc.wait(10) == -signal.SIGKILL
    with EventSubscriber(f"tcp://127.0.0.1:{port}", timeout_s=60) as sub:
        second = run_pipeline(config)  # at once: the orphans may not have gone yet
        wait_until(lambda: not any(alive(p) for p in orphans), 2.0,
                   "the killed supervisor's stages to die with it")
        records = list(sub.until_end(["cam"]))
    assert second.wait(60) == 0, second.log
    assert [r["seq"] for r in records] == list(range(251))
    assert "restarting" not in second.log


def test_control_messages_from_another_process_are_ignored(tmp_path, run_pipeline, zctx):
    """What an orphan of an earlier run does: its control socket, named like a stage
    (``publish.0``), reconnects to the new supervisor before the new stage does and
    sends "done" and "drained". Before: the supervisor took them as its own stage's
    (and ZeroMQ refused the real stage's connection as a duplicate identity), so the
    new run failed. Now they are ignored, said so, and the run ends normally."""
    import json

    import zmq

    from pipeline.config import load_config

    port = free_port_pair()
    config = pattern_config(tmp_path, port, 150, "t-forged-control",
                            stop_timeout_s=1.0)  # a stage "done" this long is killed
    endpoint = load_config(config).control_endpoint()
    forgers = []
    for ident in (b"publish.0", f"publish.0@{os.getpid()}".encode()):
        forger = zctx.socket(zmq.DEALER)
        forger.setsockopt(zmq.IDENTITY, ident)
        forger.setsockopt(zmq.LINGER, 0)
        forger.connect(endpoint)  # queued until the supervisor binds: it connects first
        for kind in ("done", "drained"):
            forger.send(json.dumps({"type": kind, "id": "publish.0", "pid": os.getpid(),
                                    "progress": {"cam": -1}}).encode())
        forgers.append(forger)
    try:
        with EventSubscriber(f"tcp://127.0.0.1:{port}", timeout_s=60) as sub:
            run = run_pipeline(config)
            records = list(sub.until_end(["cam"]))
        assert run.wait(60) == 0, run.log
    finally:
        for forger in forgers:
            forger.close()
    assert [r["seq"] for r in records] == list(range(151))
    assert "control message(s) from a process not started by this run" in run.log
    assert "killing" not in run.log


def test_a_stage_ready_early_is_not_killed_for_waiting_for_the_others(tmp_path,
                                                                      run_pipeline):
    """publish is ready at once, capture only after a 4 s preparation; the heartbeat
    timeout is 2 s. Waiting for go is not a hang. Before, the heartbeat clock ran while
    a stage waited, and one that had not beaten again by the supervisor's next check
    after go (a loaded machine) was SIGKILLed. The test makes publish that slow: it is
    stopped (SIGSTOP) while it waits and continued once the log says go."""
    port = free_port_pair()
    config = write_config(tmp_path, {
        "name": "t-slow-start",
        "sources": {"cam": {"type": "python", "factory":
                            "tests.reliability.faulty_source:slow_to_prepare",
                            "options": {"frames": 5, "seconds": 4.0}, "realtime": False}},
        "stages": {"capture": {"type": "capture"}, "publish": publish(port)},
        "supervisor": fast_supervisor(heartbeat_timeout_s=2.0),
    })
    with EventSubscriber(f"tcp://127.0.0.1:{port}", timeout_s=60) as sub:
        run = run_pipeline(config)
        wait_until(lambda: "[publish.0] publishing on" in run.log, 60, "publish ready")
        [pid] = run.stage_pids("publish")
        os.kill(pid, signal.SIGSTOP)
        try:
            wait_until(lambda: "stage processes ready: go" in run.log, 60, "go")
        finally:
            os.kill(pid, signal.SIGCONT)
        records = list(sub.until_end(["cam"]))
    assert run.wait(60) == 0, run.log
    assert [r["seq"] for r in records] == list(range(6))
    assert "sent no heartbeat" not in run.log and "restarting" not in run.log


def test_a_port_in_use_fails_the_run_at_once_with_one_line(tmp_path, run_pipeline):
    """Before: a bind error was retried as a crash six times, each with a traceback.
    Now the stage says which YAML key, exits EX_CONFIG, and the run ends (rc 1)."""
    import socket

    port = free_port_pair()
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", port))
    holder.listen()
    try:
        run = run_pipeline(pattern_config(tmp_path, port, 5, "t-port-in-use"))
        assert run.wait(60) == 1
    finally:
        holder.close()
    assert "stages.publish.bind" in run.log and "Address already in use" in run.log
    assert "restarting" not in run.log and "Traceback" not in run.log


def test_a_model_that_cannot_classify_fails_the_run_at_once_with_one_line(tmp_path,
                                                                          run_pipeline):
    """A spotter's model given to classify (it exists, so the run starts): before, the
    stage started, and the first batch raised mid-stream; now its start fails with the
    YAML path, exit EX_CONFIG, no restart, and the run ends (rc 1)."""
    from tests.conftest import REPO, write_config

    port = free_port_pair()
    model = REPO / "pipeline" / "weights" / "spotter_dense.onnx"
    config = write_config(tmp_path, {
        "name": "t-bad-model",
        "sources": {"cam": {"type": "testpattern", "width": 64, "height": 48,
                            "frames": 5}},
        "stages": {"capture": {"type": "capture"},
                   "classify": {"type": "classify", "model": str(model)},
                   "publish": {"type": "publish", "bind": f"tcp://127.0.0.1:{port}"}},
        "supervisor": fast_supervisor(),
    })
    run = run_pipeline(config)
    assert run.wait(60) == 1, run.log
    assert f"stages.classify.model: {model} cannot classify clips" in run.log
    assert "input 'clip' is not one a clip can feed" in run.log
    assert "restarting" not in run.log and "Traceback" not in run.log
