"""The synthetic source inside a real pipeline: capture -> align -> publish."""

from __future__ import annotations

from pipeline.client import EventSubscriber
from tests.conftest import free_port, write_config
from tests.pipeline.stages.test_capture_publish import collect


def test_synthetic_scene_runs_through_capture_align_publish(tmp_path, run_pipeline):
    port = free_port()
    config = write_config(tmp_path, {
        "name": "t-synth",
        "sources": {"cam-a": {"type": "synthetic", "seed": 1, "seconds": 2, "fps": 25,
                              "width": 320, "height": 240, "realtime": False},
                    "cam-b": {"type": "synthetic", "seed": 2, "seconds": 2, "fps": 25,
                              "width": 320, "height": 240, "realtime": False}},
        "stages": {"capture": {"type": "capture"},
                   "align": {"type": "align", "replicas": 2},
                   "publish": {"type": "publish", "bind": f"tcp://127.0.0.1:{port}",
                               "wait_subscribers": 1}},
    })
    with EventSubscriber(f"tcp://127.0.0.1:{port}") as sub:
        run = run_pipeline(config)
        got = collect(sub, ["cam-a", "cam-b"], timeout_s=120)
        assert run.wait(60) == 0, run.log
    for sid in ("cam-a", "cam-b"):
        faces = [r for r in got[sid] if r["type"] == "face"]
        seqs = [r["seq"] for r in faces]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        # A real face is in every generated frame; a blink or a head turn may cost a few.
        assert len(faces) >= 45, f"{sid}: faces in {len(faces)} of 50 frames"
        assert got[sid][-1]["type"] == "end_of_stream"
        assert got[sid][-1]["seq"] == 50
