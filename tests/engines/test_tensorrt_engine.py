"""The TensorRT engine's plumbing (named tensors, buffers sized for the profile's max
batch, shapes set per batch, copies, float32 out, errors) against a fake TensorRT and
fake CUDA memory. The real TensorRT and CUDA bindings are exercised by test_gpu.py."""

from __future__ import annotations

import numpy as np
import pytest

from engines import cuda_memory, tensorrt_import
from engines import tensorrt_engine as trt_engine_module
from engines.errors import BackendUnavailable, EngineInputError, EngineLoadError
from engines.tensorrt_engine import TensorRTEngine
from tests.engines.fake_tensorrt import (
    FakeCudaEngine,
    FakeCudaMemory,
    FakeDataType,
    FakeIOMode,
    FakeTensorRT,
)

IN, OUT = FakeIOMode.INPUT, FakeIOMode.OUTPUT
HALF, FLOAT = FakeDataType.HALF, FakeDataType.FLOAT


def sum_and_max_engine(max_batch: int = 8) -> FakeCudaEngine:
    """x (N, 4) float16 -> y (N, 2) float32 = [sum, max]; z (N,) float16 = 2 * x[:, 0]."""
    def fn(inputs):
        x = inputs["x"].astype(np.float32)
        return {"y": np.stack([x.sum(1), x.max(1)], 1), "z": 2 * x[:, 0]}

    def out_shape(name, shapes):
        n = shapes["x"][0]
        return (n, 2) if name == "y" else (n,)

    tensors = {"x": (IN, HALF, (-1, 4), (max_batch, 4)),
               "y": (OUT, FLOAT, (-1, 2), None), "z": (OUT, HALF, (-1,), None)}
    return FakeCudaEngine(tensors, fn, out_shape)


@pytest.fixture
def fake(monkeypatch, tmp_path):
    trt = FakeTensorRT("10.13.3.9")
    monkeypatch.setattr(tensorrt_import, "import_tensorrt", lambda: trt)
    plan = tmp_path / "m.plan"
    plan.write_bytes(b"PLAN")
    engine = sum_and_max_engine()
    trt.add_engine(b"PLAN", engine)
    memory = FakeCudaMemory()
    engine.memory = memory
    return trt, plan, engine, memory


def test_specs_buffers_and_inference(fake) -> None:
    trt, plan, fake_engine, memory = fake
    engine = TensorRTEngine(plan, memory=memory, metadata={"mestream.labels": "[]"})
    assert engine.backend == "tensorrt" and engine.device == "cuda:0"
    assert engine.max_batch == 8 and engine.precision == "fp16"   # float16 inputs
    assert str(engine.inputs["x"]) == "x float16[N,4]"
    assert str(engine.outputs["y"]) == "y float32[N,2]"
    assert engine.metadata == {"mestream.labels": "[]"}
    # One buffer pair per tensor, sized for the max batch, bound once.
    assert [a.shape for a in memory.pinned] == [(8, 4), (8, 2), (8,)]
    ctx = fake_engine.contexts[0]
    assert ctx.address_calls == 3
    for n in (1, 3, 8):
        x = np.arange(n * 4, dtype=np.float64).reshape(n, 4)
        out = engine.infer({"x": x})
        assert ctx.shapes["x"] == (n, 4)
        assert out["y"].dtype == np.float32 and out["z"].dtype == np.float32
        np.testing.assert_allclose(out["y"], np.stack([x.sum(1), x.max(1)], 1), rtol=1e-3)
        np.testing.assert_allclose(out["z"], 2 * x[:, 0], rtol=1e-3)
    assert ctx.address_calls == 3 and ctx.executions == [77, 77, 77]
    assert memory.syncs == 3
    # Only the batch's bytes travel: 3 clips x 4 float16 in, 3 x 2 float32 out.
    assert ("htod", ctx.addresses["x"], 3 * 4 * 2) in memory.copies
    assert ("dtoh", ctx.addresses["y"], 3 * 2 * 4) in memory.copies


def test_results_are_not_overwritten_by_the_next_batch(fake) -> None:
    _, plan, _, memory = fake
    engine = TensorRTEngine(plan, memory=memory)
    first = engine.infer({"x": np.ones((2, 4))})["y"]
    engine.infer({"x": np.zeros((2, 4))})
    assert first.tolist() == [[4.0, 1.0], [4.0, 1.0]]


def test_batch_errors(fake) -> None:
    _, plan, _, memory = fake
    engine = TensorRTEngine(plan, memory=memory)
    with pytest.raises(EngineInputError, match="larger than the engine's max batch 8"):
        engine.infer({"x": np.zeros((9, 4))})
    with pytest.raises(EngineInputError, match="expected shape"):
        engine.infer({"x": np.zeros((2, 5))})


def test_a_plan_tensorrt_refuses(fake, tmp_path) -> None:
    _, _, _, memory = fake
    other = tmp_path / "other.plan"
    other.write_bytes(b"from another TensorRT")
    with pytest.raises(EngineLoadError, match="cannot deserialise"):
        TensorRTEngine(other, memory=memory)
    with pytest.raises(FileNotFoundError):
        TensorRTEngine(tmp_path / "missing.plan", memory=memory)


def test_memory_it_opened_is_released_when_the_plan_is_refused(fake, tmp_path,
                                                               monkeypatch) -> None:
    own = FakeCudaMemory()
    monkeypatch.setattr(trt_engine_module, "open_cuda_memory", lambda device: own)
    other = tmp_path / "other.plan"
    other.write_bytes(b"from another TensorRT")
    with pytest.raises(EngineLoadError):
        TensorRTEngine(other)
    assert own.released


def test_close_releases_memory(fake) -> None:
    _, plan, _, memory = fake
    engine = TensorRTEngine(plan, memory=memory)
    engine.close()
    engine.close()
    assert memory.released
    with pytest.raises(RuntimeError, match="closed"):
        engine.infer({"x": np.zeros((1, 4))})


def test_precision_comes_from_the_cache_manifest(fake) -> None:
    _, plan, _, memory = fake
    (plan.parent / "manifest.json").write_text('{"key": {"precision": "fp32"}}')
    assert TensorRTEngine(plan, memory=memory).precision == "fp32"
    assert TensorRTEngine(plan, memory=memory, precision="fp16").precision == "fp16"


def test_default_memory_comes_from_open_cuda_memory(fake, monkeypatch) -> None:
    _, plan, _, memory = fake
    asked = []
    monkeypatch.setattr(trt_engine_module, "open_cuda_memory",
                        lambda device: asked.append(device) or memory)
    TensorRTEngine(plan, device_index=0)
    assert asked == [0]


def test_without_tensorrt(tmp_path) -> None:
    if tensorrt_import.tensorrt_installed():
        pytest.skip("tensorrt is installed here")
    with pytest.raises(BackendUnavailable, match="pip install tensorrt-cu12"):
        TensorRTEngine(tmp_path / "m.plan")


def test_without_cuda_bindings() -> None:
    import importlib.util
    if importlib.util.find_spec("pycuda") or importlib.util.find_spec("cuda"):
        pytest.skip("a CUDA binding is installed here")
    with pytest.raises(BackendUnavailable, match="pip install cuda-python"):
        cuda_memory.open_cuda_memory()
    with pytest.raises(ValueError, match="binding must be"):
        cuda_memory.open_cuda_memory("cupy")
