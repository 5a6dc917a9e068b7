"""The delivery guarantee tested the way brokers test theirs: the demo pipeline (its
synthetic cameras with fixed seeds, align, the learned spotter, the bundled recogniser,
publish with its event log), run once unkilled, then the same YAML run again with kill
-9 of each stage at chosen points - including just after an event was published - and
of the supervisor. Every killed run must give the subscriber the unkilled run's events
(same streams, intervals and labels), each once, and exit 0; the runs share one YAML
and its run folder, so they also show that one run's log does not leak into the next.

Kill points are synchronised on published records (the spot stage's per-frame track
records, or an event), never on time."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import yaml

from pipeline.client import EventSubscriber
from tests.conftest import REPO, Run, alive, cmdline, wait_until, write_config
from tests.reliability.test_replay import free_port_pair

STREAMS = ("cam-1", "cam-2")


def demo_config(tmp_path: Path, port: int) -> Path:
    """configs/demo.yaml with two of its cameras, not paced (as fast as the CPU goes),
    per-frame track records on, the supervisor's timings shortened."""
    demo = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text())
    media = REPO / "configs"
    sources = {}
    for sid in STREAMS:
        src = dict(demo["sources"][sid])
        src["faces"] = [str(media / f) for f in src["faces"]]
        src["realtime"] = False
        sources[sid] = src
    stages = demo["stages"]
    stages["classify"]["model"] = str((media / stages["classify"]["model"]).resolve())
    stages["classify"]["backend"] = "onnxruntime"
    stages["spot"]["emit_tracks"] = True
    stages["publish"] = {"type": "publish", "bind": f"tcp://127.0.0.1:{port}",
                         "wait_subscribers": 1}
    return write_config(tmp_path, {
        "name": "t-fault-matrix", "sources": sources, "stages": stages,
        "transport": {"hwm": 8, "reread": demo["transport"]["reread"]},
        "supervisor": {"heartbeat_s": 0.2, "backoff_initial_s": 0.2,
                       "heartbeat_timeout_s": 20},
        "logging": {"level": "INFO"},
    })


def identity(event: dict) -> tuple:
    iv = event["interval"]
    return event["stream"], iv["onset_ns"], iv["offset_ns"], event["label"]


def run_with_kills(config: Path, port: int, kills: list[tuple[str, str, int]],
                   log_name: str, on_kill=lambda pids: None) -> tuple[str, list[dict]]:
    """One run of ``config``; ``kills``: (stage, "track" | "event", n): kill -9 the
    stage (the replica that has cam-1) once the subscriber has the n-th such record
    of cam-1; ``"supervisor"`` ends the run there (``on_kill`` gets its stages' pids).
    Returns the run's log and every record."""
    pending = list(kills)
    counts = {"track": 0, "event": 0}
    records = []
    with EventSubscriber(f"tcp://127.0.0.1:{port}", timeout_s=120) as sub:
        run = Run(config)
        try:
            for record in sub.until_end(list(STREAMS)):
                records.append(record)
                if record["stream"] == "cam-1" and record["type"] in counts:
                    counts[record["type"]] += 1
                    for kill in [k for k in pending if counts[k[1]] == k[2]
                                 and record["type"] == k[1]]:
                        pending.remove(kill)
                        stage = kill[0]
                        if stage == "supervisor":
                            on_kill(run.stage_pids())
                            run.proc.kill()
                            run.proc.wait(10)
                            return _keep(run, log_name), records
                        pids = run.stage_pids(stage)
                        if stage == "align":  # cam-1's replica: shard 0 of 2
                            pids = [p for p in pids if "--replica 0" in cmdline(p)]
                        os.kill(pids[0], signal.SIGKILL)
            assert run.wait(120) == 0, run.log
        finally:
            text = _keep(run, log_name)
            run.close()
    assert not pending, f"kill points never reached: {pending}"
    return text, records


def _keep(run: Run, name: str) -> str:
    text = run.log
    (run.log_path.parent / f"{name}.log").write_text(text)
    return text


def events_of(records: list[dict]) -> list[tuple]:
    return sorted(identity(r) for r in records if r["type"] == "event")


def test_kill_9_anywhere_delivers_the_unkilled_runs_events_once(tmp_path):
    port = free_port_pair()
    config = demo_config(tmp_path, port)
    _, baseline = run_with_kills(config, port, [], "baseline")
    expected = events_of(baseline)
    assert len(expected) >= 4, expected  # the scene plants several per camera
    plans = [
        [("align", "track", 120), ("publish", "event", 1)],
        [("spot", "event", 1), ("classify", "track", 330)],
        [("capture", "track", 120), ("classify", "event", 1)],
    ]
    for i, plan in enumerate(plans):
        log, records = run_with_kills(config, port, plan, f"run{i}")
        got = events_of(records)
        assert got == expected, (plan, got, expected)
        seqs = [r["event_seq"] for r in records]
        assert seqs == sorted(set(seqs)), plan  # no record twice
        for stage, _, _ in plan:
            assert f"{stage}.0 crashed (signal SIGKILL); restarting" in log, stage
    # The supervisor killed just after an event: its stages die with it, and the same
    # YAML started again at once gives the whole set again, in a run (and log) of its own.
    port_pids: list[int] = []
    _, partial = run_with_kills(config, port, [("supervisor", "event", 1)], "killed",
                                on_kill=port_pids.extend)
    wait_until(lambda: not any(alive(p) for p in port_pids), 2.0,
               "the killed supervisor's stages to die with it")
    log, records = run_with_kills(config, port, [], "after-supervisor-kill")
    assert events_of(records) == expected
    assert {r["run_id"] for r in records}.isdisjoint({r["run_id"] for r in partial})
    assert records[0]["event_seq"] == 0  # a log of its own
