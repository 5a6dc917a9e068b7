"""The whole chain in separate processes: capture -> align -> spot -> classify ->
publish, with a scripted micro-expression and an exported (random-weight) STCNN on ONNX
Runtime: the event arrives with a label from the model's label set, its interval, the
model's provenance and a latency breakdown."""

from __future__ import annotations

from pipeline.client import EventSubscriber
from tests.conftest import free_port, write_config
from tests.pipeline.stages.test_capture_publish import collect
from tests.pipeline.stages.test_classify_stage import model


def test_capture_align_spot_classify_publish(tmp_path, run_pipeline):
    onnx_path = model(tmp_path)
    port = free_port()
    config = write_config(tmp_path, {
        "name": "t-chain",
        "sources": {"cam": {"type": "python", "factory": "tests.scripted_source:make",
                            "options": {"fps": 30, "seconds": 5, "onset_s": 2.5},
                            "realtime": False}},
        "stages": {"capture": {"type": "capture"},
                   "align": {"type": "align", "alignment": {"size": 64}},
                   "spot": {"type": "spot", "clip_frames": 18},
                   "classify": {"type": "classify", "model": str(onnx_path),
                                "backend": "auto", "max_delay_ms": 10},
                   "publish": {"type": "publish", "bind": f"tcp://127.0.0.1:{port}",
                               "wait_subscribers": 1}},
    })
    with EventSubscriber(f"tcp://127.0.0.1:{port}") as sub:
        run = run_pipeline(config)
        got = collect(sub, ["cam"], timeout_s=120)
        assert run.wait(60) == 0, run.log
    events = [r for r in got["cam"] if r["type"] == "event"]
    assert len(events) == 1, got["cam"]
    ev = events[0]
    assert ev["label"] in ("negative", "positive", "surprise")
    assert set(ev["probs"]) == {"negative", "positive", "surprise"}
    assert 2400e6 <= ev["interval"]["apex_ns"] <= 2900e6
    assert ev["model"]["backend"] == "onnxruntime" and ev["model"]["synthetic_weights"]
    assert ev["latency_ms"]["batch_size"] == 1 and ev["latency_ms"]["infer"] > 0
    assert "engine onnxruntime" in run.log  # the one line saying which backend and why
