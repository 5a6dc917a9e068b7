"""ONNX Runtime engine on real exported graphs: float32 out whatever the graph's
precision, the exporter's metadata, and clear errors for batches that do not fit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engines.engine import InferenceEngine, TensorSpec
from engines.errors import EngineInputError
from engines.onnxruntime_engine import OnnxRuntimeEngine
from tests.engines.conftest import FACE, LABELS, clips


def test_fp32_graph(tiny) -> None:
    with OnnxRuntimeEngine(tiny.onnx, intra_op_threads=1) as engine:
        assert isinstance(engine, InferenceEngine)
        assert engine.backend == "onnxruntime" and engine.device == "cpu"
        assert engine.precision == "fp32" and engine.max_batch is None
        assert engine.inputs == {"face": TensorSpec("face", "float32", (None, *FACE))}
        assert engine.outputs == {"logits": TensorSpec("logits", "float32", (None, 3))}
        out = engine.infer({"face": clips(5)})
        assert set(out) == {"logits"}
        assert out["logits"].shape == (5, 3) and out["logits"].dtype == np.float32
        assert json.loads(engine.metadata["mestream.labels"]) == LABELS
        assert engine.metadata["mestream.arch"] == "stcnn"
        assert "unit test" in engine.metadata["mestream.trained_on"]
        assert engine.describe() == ("onnxruntime fp32 on cpu: face float32[N,1,18,32,32] -> "
                                     "logits float32[N,3] (max batch: any)")


def test_fp16_graph_takes_float32_and_returns_float32(tiny) -> None:
    with OnnxRuntimeEngine(tiny.onnx_fp16) as fp16, OnnxRuntimeEngine(tiny.onnx) as fp32:
        assert fp16.precision == "fp16"
        assert fp16.inputs["face"].dtype == "float16"
        x = clips(3, seed=1)
        got = fp16.infer({"face": x})["logits"]          # float32 in: cast by the engine
        assert got.dtype == np.float32 and got.shape == (3, 3)
        np.testing.assert_allclose(got, fp32.infer({"face": x})["logits"], atol=2e-2,
                                   rtol=2e-2)
        assert fp16.metadata["mestream.precision"] == "fp16"


@pytest.mark.parametrize("batch, message", [
    ({"faces": clips(2)}, r"missing \['face'\]; unknown \['faces'\]"),
    ({}, r"missing \['face'\]"),
    ({"face": clips(2), "extra": clips(2)}, r"unknown \['extra'\]"),
    ({"face": np.zeros((2, 18, 32, 32), np.float32)},
     r"input 'face': expected shape \(N, 1, 18, 32, 32\), got \(2, 18, 32, 32\)"),
    ({"face": np.zeros((2, 1, 16, 32, 32), np.float32)},
     r"expected shape \(N, 1, 18, 32, 32\), got \(2, 1, 16, 32, 32\)"),
    ({"face": np.zeros((0, *FACE), np.float32)}, "empty batch"),
])
def test_bad_batches_are_refused_clearly(tiny, batch, message) -> None:
    with OnnxRuntimeEngine(tiny.onnx) as engine, pytest.raises(EngineInputError,
                                                               match=message):
        engine.infer(batch)


def test_closed_engine(tiny) -> None:
    engine = OnnxRuntimeEngine(tiny.onnx)
    engine.close()
    with pytest.raises(RuntimeError, match="closed"):
        engine.infer({"face": clips(1)})


def test_missing_file(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="no such ONNX file"):
        OnnxRuntimeEngine(tmp_path / "nope.onnx")
