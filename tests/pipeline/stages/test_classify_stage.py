"""`mestream stage classify` on its own, fed clips from two streams by a plain DEALER and
read by a plain ROUTER: clips are classified in batches across streams, each event
names its model and carries probabilities and latency, and end-of-stream flushes."""

from __future__ import annotations

import subprocess

import numpy as np
import torch
import zmq

from pipeline.messages import Event
from pipeline.runtime import wire
from pipeline.runtime.sockets import open_socket
from pipeline.runtime.wire import Message
from tests.conftest import REPO, mestream, write_config
from train.export import export_onnx
from train.models import MicroExpSTCNN


def model(tmp_path):
    torch.manual_seed(0)
    kw = {"frames": 18, "size": 64, "num_classes": 3}
    torch.save({"arch": "stcnn", "kwargs": kw, "state_dict": MicroExpSTCNN(**kw).state_dict(),
                "labels": ["negative", "positive", "surprise"],
                "normalisation": {"face": {"mean": 120.0, "max": 130.0}},
                "trained_on": "unit test: random weights (synthetic)"}, tmp_path / "m.pt")
    export_onnx(tmp_path / "m.pt", tmp_path / "m.onnx")
    return tmp_path / "m.onnx"


def clip(stream: str, seq: int, rng: np.random.Generator) -> Message:
    face = rng.integers(0, 255, (18, 64, 64), dtype=np.uint8)
    small = rng.integers(0, 255, (18, 32, 32), dtype=np.uint8)
    return Message(wire.CLIP, stream, seq, seq * 1_000_000,
                   buffers={"face": face, "eyes": small, "mouth": small},
                   meta={"onset_ns": 0, "apex_ns": 1, "offset_ns": 2, "score": 0.9,
                         "kind": "micro", "spotter": "test", "after_offset_ms": 5.0},
                   track=0)


def au_model(tmp_path, intensity_trained: bool = False):
    """A MicroExpAUNet (random weights) exported as the recogniser is bundled."""
    from pipeline.recognition.au_rules import AUS
    from train.models import MicroExpAUNet

    torch.manual_seed(0)
    kw = {"frames": 18, "size": 64, "num_classes": 3}
    torch.save({"arch": "au_net", "kwargs": kw, "state_dict": MicroExpAUNet(**kw).state_dict(),
                "labels": ["negative", "positive", "surprise"], "aus": list(AUS),
                "label_set": "megc3", "intensity_trained": intensity_trained,
                "normalisation": {"face": {"mean": 0.0, "max": 30.0}},
                "preparation": {"reference": "first"},
                "trained_on": "unit test: random weights (synthetic)"}, tmp_path / "au.pt")
    export_onnx(tmp_path / "au.pt", tmp_path / "au.onnx")
    return tmp_path / "au.onnx"


def classify_events(zctx, tmp_path, onnx_path, n: int = 5) -> list[Message]:
    """Run `mestream stage classify` on ``n`` clips of streams a and b; their events."""
    inp, sink_ep = f"ipc://{tmp_path}/classify.ipc", f"ipc://{tmp_path}/sink.ipc"
    config = write_config(tmp_path, {
        "name": "t-classify",
        "sources": {"a": {"type": "testpattern", "frames": 1},
                    "b": {"type": "testpattern", "frames": 1}},
        "stages": {"capture": {"type": "capture"},
                   "classify": {"type": "classify", "model": str(onnx_path), "endpoint": inp,
                                "backend": "onnxruntime", "max_batch": 4,
                                "max_delay_ms": 200},
                   "publish": {"type": "publish", "endpoint": sink_ep}},
    })
    rng = np.random.default_rng(0)
    events, ended = [], set()
    log = (tmp_path / "classify.log").open("w")
    proc = subprocess.Popen(mestream("stage", "classify", "--config", str(config)), cwd=REPO,
                            stderr=log)
    try:
        with open_socket(zctx, zmq.ROUTER, sink_ep, bind=True, linger_ms=0) as sink, \
             open_socket(zctx, zmq.DEALER, inp, bind=False, linger_ms=0) as src:
            for i in range(n):  # a, b, a, b, a: one full batch of 4, then 1 by deadline
                src.send_multipart(wire.encode(clip("ab"[i % 2], i // 2, rng)))
            while len(events) < n:
                assert sink.poll(60_000), "no event from classify"
                peer, *parts = sink.recv_multipart()
                msg = wire.decode(parts)
                if msg.kind == wire.HEARTBEAT:
                    continue
                assert msg.kind == wire.EVENT
                events.append(msg)
            for sid in "ab":
                src.send_multipart(wire.encode(Message(wire.EOS, sid, 3, 0)))
            while len(ended) < 2:
                assert sink.poll(60_000), "no end-of-stream from classify"
                peer, *parts = sink.recv_multipart()
                msg = wire.decode(parts)
                if msg.kind == wire.EOS:
                    ended.add(msg.stream)
                    sink.send_multipart([peer, *wire.encode(
                        Message(wire.ACK, msg.stream, msg.seq, 0))])
            assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    return events


def test_clips_from_two_streams_are_classified_in_shared_batches(tmp_path, zctx) -> None:
    events = classify_events(zctx, tmp_path, model(tmp_path))
    sizes = [e.meta["latency_ms"]["batch_size"] for e in events]
    assert sizes == [4, 4, 4, 4, 1]
    assert {e.stream for e in events[:4]} == {"a", "b"}  # one batch, two streams
    for e in events:
        assert e.meta["label"] in ("negative", "positive", "surprise")
        assert abs(sum(e.meta["probs"].values()) - 1.0) < 1e-3
        assert e.meta["model"]["synthetic_weights"] is True
        assert e.meta["model"]["backend"] == "onnxruntime"
    assert events[-1].meta["latency_ms"]["batch_wait"] >= 150  # waited for the deadline
    assert all(e.meta["aus"] is None and e.meta["intensity"] is None for e in events)


def test_an_au_model_gives_action_units_and_the_rule_class(tmp_path, zctx) -> None:
    """Events of an AU-aware model carry every AU's probability and the class the
    label set's AU rules give for the AUs at >= 0.5; an untrained intensity head (there
    is none here, and the metadata says so) never reaches an event."""
    from pipeline.recognition.au_rules import AUS, present_aus, rule_class

    events = classify_events(zctx, tmp_path, au_model(tmp_path), n=2)
    for e in events:
        aus = e.meta["aus"]
        assert list(aus) == list(AUS) and all(0.0 <= v <= 1.0 for v in aus.values())
        assert e.meta["label_from_aus"] == rule_class("megc3", present_aus(aus))
        assert e.meta["model"]["label_set"] == "megc3"
        assert e.meta["label"] in ("negative", "positive", "surprise")
        assert e.meta["intensity"] is None


def test_the_bundled_model_says_it_was_trained_on_synthetic_data() -> None:
    from engines.onnxruntime_engine import OnnxRuntimeEngine

    engine = OnnxRuntimeEngine(REPO / "pipeline" / "weights" / "stcnn_synth_casme2.onnx")
    try:
        assert "synthetic" in engine.metadata["mestream.trained_on"]
        labels = engine.metadata["mestream.labels"]
        assert "happiness" in labels and "repression" in labels
        out = engine.infer({"face": np.zeros((2, 1, 18, 64, 64), np.float32)})
        assert next(iter(out.values())).shape == (2, 5)
    finally:
        engine.close()


def test_bundled_torch_program_matches_onnx_runtime() -> None:
    """ONNX Runtime vs torch on CPU, same bundled weights, same answers (1e-4)."""
    from engines.onnxruntime_engine import OnnxRuntimeEngine
    from engines.torch_engine import TorchEngine

    weights = REPO / "pipeline" / "weights"
    batch = {"face": np.random.default_rng(0).standard_normal((3, 1, 18, 64, 64),
                                                             dtype=np.float32)}
    ort_engine = OnnxRuntimeEngine(weights / "stcnn_synth_casme2.onnx")
    torch_engine = TorchEngine(weights / "stcnn_synth_casme2.pt2", device="cpu")
    try:
        a = next(iter(ort_engine.infer(batch).values()))
        b = next(iter(torch_engine.infer(batch).values()))
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)
    finally:
        ort_engine.close()
        torch_engine.close()


def test_a_model_trained_on_other_alignment_is_flagged() -> None:
    """The demo aligns with one_euro (what the learned spotter needs) while the bundled
    classifier was trained on first-frame-registered clips: the classify stage says so."""
    import json

    import onnx

    from pipeline.config import load_config
    from pipeline.stages.classify.stage import alignment_mismatch, serving_alignment

    config = load_config(REPO / "configs" / "demo.yaml")
    served = serving_alignment(config, "classify")
    assert served == ("align", "one_euro")
    meta = {p.key: p.value for p in onnx.load(
        REPO / "pipeline" / "weights" / "stcnn_synth_casme2.onnx").metadata_props}
    preparation = json.loads(meta["mestream.preparation"])
    warning = alignment_mismatch(preparation, served)
    assert warning is not None and "stabilise: hold" in warning
    assert "align.alignment.stabilise: hold" in warning
    assert alignment_mismatch(preparation, ("align", "hold")) is None
    assert alignment_mismatch({}, served) is None             # a model that does not say
    assert serving_alignment(config, "align") is None


def time_contrast_model(tmp_path, intensity_trained: bool):
    """Seed 2's net (random weights) exported with or without a trained intensity head."""
    from train.models import TimeContrastedMemoryNet

    torch.manual_seed(0)
    kw = {"frames": 18, "size": 64, "num_classes": 3, "widths": [8, 16, 32], "hidden": 32,
          "pool": "mean"}
    name = f"tc_{intensity_trained}"
    torch.save({"arch": "time_contrast", "kwargs": kw,
                "state_dict": TimeContrastedMemoryNet(**kw).state_dict(),
                "labels": ["negative", "positive", "surprise"], "label_set": "megc3",
                "intensity_trained": intensity_trained,
                "normalisation": {"face": {"mean": 120.0, "max": 130.0}},
                "trained_on": "unit test: random weights (synthetic)"}, tmp_path / f"{name}.pt")
    export_onnx(tmp_path / f"{name}.pt", tmp_path / f"{name}.onnx")
    return tmp_path / f"{name}.onnx"


def test_time_contrast_gives_class_and_intensity_only_from_a_trained_head(tmp_path, zctx) -> None:
    trained = classify_events(zctx, tmp_path, time_contrast_model(tmp_path, True), n=2)
    for e in trained:
        assert e.meta["label"] in ("negative", "positive", "surprise")
        assert len(e.meta["intensity"]) == 1 and isinstance(e.meta["intensity"][0], float)
    untrained = classify_events(zctx, tmp_path, time_contrast_model(tmp_path, False), n=2)
    assert all(e.meta["intensity"] is None for e in untrained)


def failing_model(tmp_path):
    """An ONNX model that loads with the right input and output but fails when run
    (a Reshape the input cannot take): the wrong model found only at inference."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    consts = [numpy_helper.from_array(np.array(v, dtype=np.int64), name) for name, v in
              (("shape", [-1, 7]), ("starts", [0]), ("ends", [3]), ("axes", [1]))]
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["face", "shape"], ["r"]),
         helper.make_node("Slice", ["r", "starts", "ends", "axes"], ["logits"])], "bad",
        [helper.make_tensor_value_info("face", TensorProto.FLOAT, ["N", 1, 18, 64, 64])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3])], consts)
    path = tmp_path / "fails.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_an_end_of_stream_whose_flush_fails_still_reaches_the_next_stage(tmp_path, zctx) -> None:
    """A clip waits in a batch that only end-of-stream flushes; the model fails on it.
    Before: the end-of-stream was swallowed and a run waited for it forever. Now it
    goes on, marked failed, and the stage exits 0."""
    onnx_path = failing_model(tmp_path)
    inp, sink_ep = f"ipc://{tmp_path}/classify.ipc", f"ipc://{tmp_path}/sink.ipc"
    config = write_config(tmp_path, {
        "name": "t-classify-eos",
        "sources": {"a": {"type": "testpattern", "frames": 1}},
        "stages": {"capture": {"type": "capture"},
                   "classify": {"type": "classify", "model": str(onnx_path), "endpoint": inp,
                                "backend": "onnxruntime", "max_batch": 4,
                                "max_delay_ms": 10_000},
                   "publish": {"type": "publish", "endpoint": sink_ep}},
    })
    bad = clip("a", 0, np.random.default_rng(0))
    log = (tmp_path / "classify.log").open("w")
    proc = subprocess.Popen(mestream("stage", "classify", "--config", str(config)), cwd=REPO,
                            stderr=log)
    try:
        with open_socket(zctx, zmq.ROUTER, sink_ep, bind=True, linger_ms=0) as sink, \
             open_socket(zctx, zmq.DEALER, inp, bind=False, linger_ms=0) as src:
            src.send_multipart(wire.encode(bad))
            src.send_multipart(wire.encode(Message(wire.EOS, "a", 1, 0,
                                                   meta={"reason": "end-of-file"})))
            while True:
                assert sink.poll(60_000), "the end-of-stream never left classify"
                peer, *parts = sink.recv_multipart()
                msg = wire.decode(parts)
                if msg.kind == wire.EOS:
                    break
            sink.send_multipart([peer, *wire.encode(Message(wire.ACK, "a", msg.seq, 0))])
            assert msg.meta["reason"] == "end-of-file"
            assert msg.meta["failed"].startswith("classify: "), msg.meta
            assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    assert "stream a seq 1: eos failed" in (tmp_path / "classify.log").read_text()


def test_the_bundled_time_contrast_model_gives_class_and_intensity(tmp_path, zctx) -> None:
    """Seed 2 served: `model: time_contrast` (its intensity head trained, SYNTHETIC
    data) gives a class and an intensity from the same clip."""
    bundled = REPO / "pipeline" / "weights" / "time_contrast_synth_megc3.onnx"
    events = classify_events(zctx, tmp_path, bundled, n=2)
    for ev in events:
        assert ev.meta["label"] in ("negative", "positive", "surprise")
        assert ev.meta["model"]["arch"] == "time_contrast"
        assert ev.meta["model"]["synthetic_weights"] is True
        [intensity] = ev.meta["intensity"]
        assert np.isfinite(intensity)


def test_clips_become_typed_events_in_process(tmp_path, stage_in_process) -> None:
    """The classify stage driven directly (no process, no socket): a full batch goes at
    once, a partial one at its deadline or at the end of the stream, and every event
    reads back as a classified Event of its clip's stream, track and interval."""
    stage = stage_in_process({
        "name": "t-classify-inproc",
        "sources": {"a": {"type": "testpattern", "frames": 1}},
        "stages": {"capture": {"type": "capture"},
                   "classify": {"type": "classify", "model": str(model(tmp_path)),
                                "backend": "onnxruntime", "max_batch": 2,
                                "max_delay_ms": 10_000},
                   "publish": {"type": "publish", "bind": "tcp://127.0.0.1:1"}},
    }, "classify")
    rng = np.random.default_rng(0)
    assert list(stage.process(clip("a", 0, rng))) == []  # waits for a batch
    events = list(stage.process(clip("a", 1, rng)))  # the batch is full
    assert list(stage.process(clip("a", 2, rng))) == []
    rest = list(stage.on_stream_end(Message(wire.EOS, "a", 3, 0)))
    events += [m for m in rest if m.kind == wire.EVENT]
    assert rest[-1].kind == wire.EOS  # the end follows the flushed events
    typed = [Event.from_message(m) for m in events]
    assert [e.seq for e in typed] == [0, 1, 2]
    assert all(e.stream == "a" and e.track == 0 and e.span.kind == "micro" for e in typed)
    assert all(e.label in ("negative", "positive", "surprise") for e in typed)
    assert {e.classification.latency_ms["batch_size"] for e in typed} == {2, 1}
    # Batch sizes and the clips waiting go to the metrics (Prometheus, via the supervisor).
    snap = stage.ctx.metrics.snapshot()
    sizes = snap["histograms"]["batch_size"]
    assert sizes["count"] == 2 and sizes["sum"] == 3
    assert snap["gauges"]["queue_depth"] == {"a": 0}
