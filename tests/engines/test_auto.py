"""Automatic backend choice: TensorRT when installed with a GPU, else torch on CUDA with
a .pt2 beside the ONNX file, else ONNX Runtime; one log line says which and why. The
TensorRT route runs end to end here against a fake TensorRT and fake CUDA memory."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from engines import auto, tensorrt_import
from engines import tensorrt_engine as trt_engine_module
from engines.auto import Machine, choose_backend, open_engine
from engines.device import GpuInfo
from engines.errors import EngineLoadError
from engines.onnxruntime_engine import OnnxRuntimeEngine
from engines.torch_engine import TorchEngine
from tests.engines.conftest import FACE, clips
from tests.engines.fake_tensorrt import (
    FakeCudaEngine,
    FakeCudaMemory,
    FakeDataType,
    FakeIOMode,
    FakeTensorRT,
)

GPU = GpuInfo(0, "NVIDIA H100 80GB HBM3", "9.0")
BARE = Machine(tensorrt=False, gpu=None, torch="not checked")
TRT_GPU = Machine(tensorrt=True, gpu=GPU, torch="not checked")
TORCH_GPU = Machine(tensorrt=False, gpu=GPU, torch="cuda")


@pytest.fixture
def plain_onnx(tiny, tmp_path) -> Path:
    """The tiny ONNX without a .pt2 beside it."""
    path = tmp_path / "alone.onnx"
    path.write_bytes(tiny.onnx.read_bytes())
    return path


@pytest.mark.parametrize("machine, expected, reason", [
    (BARE, "onnxruntime", "tensorrt not installed; no NVIDIA GPU"),
    (Machine(True, None, "not checked"), "onnxruntime", "no NVIDIA GPU"),
    (TRT_GPU, "tensorrt", "tensorrt installed and GPU NVIDIA H100 80GB HBM3 (sm90) found"),
    (TORCH_GPU, "torch", "tensorrt not installed; torch sees CUDA and model.pt2 exists"),
    (Machine(False, GPU, "cpu only"), "onnxruntime", "tensorrt not installed; torch cpu only"),
    (Machine(False, GPU, "not installed"), "onnxruntime", "torch not installed"),
])
def test_choice_for_an_onnx_file_with_a_program_beside_it(tiny, machine, expected,
                                                           reason) -> None:
    choice = choose_backend(tiny.onnx, "auto", machine)
    assert choice.backend == expected
    assert reason in choice.reason
    if expected == "torch":
        assert choice.artifact == tiny.program


def test_choice_without_a_program(plain_onnx) -> None:
    choice = choose_backend(plain_onnx, "auto", TORCH_GPU)
    assert choice.backend == "onnxruntime"
    assert choice.reason == "tensorrt not installed; no alone.pt2 for torch"


def test_explicit_backends_and_file_types(tiny, plain_onnx, tmp_path) -> None:
    assert choose_backend(tiny.onnx, "onnxruntime", TRT_GPU).backend == "onnxruntime"
    assert choose_backend(tiny.onnx, "tensorrt", BARE).backend == "tensorrt"
    assert choose_backend(tiny.onnx, "torch", BARE).artifact == tiny.program
    assert choose_backend(tiny.program, "auto", BARE).backend == "torch"
    assert choose_backend(tmp_path / "m.plan", "auto", BARE).backend == "tensorrt"
    with pytest.raises(FileNotFoundError, match="alone.pt2"):
        choose_backend(plain_onnx, "torch", BARE)
    with pytest.raises(ValueError, match="only the tensorrt backend"):
        choose_backend(tmp_path / "m.plan", "onnxruntime", BARE)
    with pytest.raises(ValueError, match="only the torch backend"):
        choose_backend(tiny.program, "onnxruntime", BARE)
    with pytest.raises(ValueError, match="backend must be one of"):
        choose_backend(tiny.onnx, "tvm", BARE)
    with pytest.raises(ValueError, match="expected a .onnx"):
        choose_backend(tmp_path / "m.tflite", "auto", BARE)


def test_no_tensorrt_no_cuda_opens_onnxruntime_and_says_why(tiny, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="mestream.engines"):
        engine = open_engine(tiny.onnx, machine=BARE)
    assert isinstance(engine, OnnxRuntimeEngine)
    lines = [r.getMessage() for r in caplog.records if r.name == "mestream.engines"]
    assert lines == ["engine onnxruntime fp32 on cpu for model.onnx: tensorrt not "
                     "installed; no NVIDIA GPU"]
    assert engine.infer({"face": clips(2)})["logits"].shape == (2, 3)


def test_on_this_machine(tiny, caplog) -> None:
    """The real probe (skipped where a GPU or TensorRT would change the answer)."""
    machine = auto.probe_machine(check_torch=False)
    if machine.tensorrt or machine.gpu is not None:
        pytest.skip("this machine has TensorRT or a GPU")
    with caplog.at_level(logging.INFO, logger="mestream.engines"):
        engine = open_engine(tiny.onnx)
    assert engine.backend == "onnxruntime"
    assert "tensorrt not installed; no NVIDIA GPU" in caplog.text


def test_a_program_opens_in_torch_on_cpu(tiny, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="mestream.engines"):
        engine = open_engine(tiny.program, machine=BARE)
    assert isinstance(engine, TorchEngine) and engine.device == "cpu"
    assert "engine torch fp32 on cpu for model.pt2: a torch.export program was given" in (
        caplog.text)


def test_precision_request_that_onnxruntime_cannot_honour_is_noted(tiny, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="mestream.engines"):
        open_engine(tiny.onnx, "onnxruntime", precision="fp16", machine=TRT_GPU)
    assert "(asked for fp16; ONNX Runtime runs the graph as exported)" in caplog.text


def face_engine() -> FakeCudaEngine:
    """A fake plan for the tiny STCNN graph: logits[:, k] = (k + 1) * mean(face)."""
    tensors = {"face": (FakeIOMode.INPUT, FakeDataType.HALF, (-1, *FACE), (64, *FACE)),
               "logits": (FakeIOMode.OUTPUT, FakeDataType.HALF, (-1, 3), None)}
    return FakeCudaEngine(
        tensors, lambda i: {"logits": i["face"].astype(np.float32).reshape(
            len(i["face"]), -1).mean(1, keepdims=True) * np.array([1, 2, 3])},
        lambda name, shapes: (shapes["face"][0], 3))


@pytest.fixture
def fake_gpu_stack(monkeypatch):
    def install(version: str) -> FakeTensorRT:
        trt = FakeTensorRT(version)
        memory = FakeCudaMemory()
        trt.any_plan = face_engine()
        trt.any_plan.memory = memory
        monkeypatch.setattr(tensorrt_import, "import_tensorrt", lambda: trt)
        monkeypatch.setattr(trt_engine_module, "open_cuda_memory", lambda device: memory)
        return trt
    return install


def test_tensorrt_route_builds_once_then_uses_the_cache(tiny, tmp_path, fake_gpu_stack,
                                                        caplog) -> None:
    trt = fake_gpu_stack("11.4.0.106")
    with caplog.at_level(logging.INFO, logger="mestream.engines"):
        engine = open_engine(tiny.onnx_fp16, machine=TRT_GPU, cache_dir=tmp_path / "c",
                             max_batch=64)
    assert engine.backend == "tensorrt" and engine.precision == "fp16"
    assert engine.metadata["mestream.arch"] == "stcnn"       # from the ONNX file
    x = clips(3)
    expected = x.reshape(3, -1).mean(1, keepdims=True) * np.array([1, 2, 3])
    np.testing.assert_allclose(engine.infer({"face": x})["logits"], expected, atol=1e-3)
    assert "engine tensorrt fp16 on cuda:0 for model_fp16.onnx: tensorrt installed" in (
        caplog.text)
    builds = [c for c in trt.calls if c[0] == "build"]
    open_engine(tiny.onnx_fp16, machine=TRT_GPU, cache_dir=tmp_path / "c", max_batch=64)
    assert [c for c in trt.calls if c[0] == "build"] == builds and len(builds) == 1


def test_tensorrt_11_with_an_fp32_graph_falls_back_to_fp32(tiny, tmp_path, fake_gpu_stack,
                                                          caplog) -> None:
    fake_gpu_stack("11.4.0.106")
    with caplog.at_level(logging.INFO, logger="mestream.engines"):
        engine = open_engine(tiny.onnx, machine=TRT_GPU, cache_dir=tmp_path / "c")
    assert engine.precision == "fp32"
    assert "builds FP16 only from an FP16 graph" in caplog.text
    with pytest.raises(ValueError, match="mestream export"):
        open_engine(tiny.onnx, "tensorrt", precision="fp16", machine=TRT_GPU,
                    cache_dir=tmp_path / "c")


def test_a_plan_tensorrt_refuses_is_rebuilt_once(tiny, tmp_path, fake_gpu_stack) -> None:
    trt = fake_gpu_stack("10.13.3.9")
    good = trt.any_plan
    refusals = iter([None])
    real_runtime = trt.Runtime

    class FlakyRuntime:
        def __init__(self, logger):
            self.inner = real_runtime(logger)

        def deserialize_cuda_engine(self, plan):
            self.inner.deserialize_cuda_engine(plan)
            return next(refusals, good)

    trt.Runtime = FlakyRuntime
    engine = open_engine(tiny.onnx, machine=TRT_GPU, cache_dir=tmp_path / "c")
    assert engine.backend == "tensorrt" and trt.deserialized == 2
    assert len([c for c in trt.calls if c[0] == "build"]) == 2

    trt.any_plan = None        # refuses every time: the error reaches the caller
    trt.Runtime = real_runtime
    with pytest.raises(EngineLoadError):
        open_engine(tiny.onnx, machine=TRT_GPU, cache_dir=tmp_path / "c")


def test_missing_file(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        open_engine(tmp_path / "none.onnx", machine=BARE)


def test_default_cache_dir(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(auto.CACHE_ENV, str(tmp_path / "x"))
    assert auto.default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv(auto.CACHE_ENV)
    assert auto.default_cache_dir().parts[-3:] == (".cache", "mestream", "engines")
