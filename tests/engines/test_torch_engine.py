"""torch.export programs in the torch engine: the same outputs as ONNX Runtime on CPU
within 1e-4 (the backend parity check CI runs), any batch size, metadata carried over,
models with several inputs (FuseNet) or namedtuple outputs. The CUDA-graph path runs only with a
GPU (``pytest -m gpu tests/engines``)."""

from __future__ import annotations

import json
from typing import NamedTuple

import numpy as np
import pytest
import torch

from engines.errors import BackendUnavailable
from engines.onnxruntime_engine import OnnxRuntimeEngine
from engines.torch_cuda_graphs import bucket_for
from engines.torch_engine import TorchEngine
from engines.torch_program import export_program, read_program_info
from tests.engines.conftest import FACE, LABELS, clips


@pytest.fixture(scope="module")
def torch_cpu(tiny):
    engine = TorchEngine(tiny.program)
    yield engine
    engine.close()


def test_torch_cpu_matches_onnxruntime(tiny, torch_cpu) -> None:
    with OnnxRuntimeEngine(tiny.onnx) as ort_engine:
        for n in (1, 3, 8):
            x = {"face": clips(n, seed=n)}
            got = torch_cpu.infer(x)["logits"]
            ref = ort_engine.infer(x)["logits"]
            assert got.shape == ref.shape == (n, 3) and got.dtype == np.float32
            np.testing.assert_allclose(got, ref, atol=1e-4, rtol=1e-4)


def test_specs_and_metadata(torch_cpu) -> None:
    assert torch_cpu.backend == "torch" and torch_cpu.device == "cpu"
    assert torch_cpu.precision == "fp32"
    assert torch_cpu.inputs["face"].shape == (None, *FACE)
    assert torch_cpu.outputs["logits"].shape == (None, 3)
    assert json.loads(torch_cpu.metadata["mestream.labels"]) == LABELS
    assert torch_cpu.max_batch == 4096


def test_fp16_returns_float32(tiny, torch_cpu) -> None:
    half = TorchEngine(tiny.program, precision="fp16")   # slow on CPU, but it runs
    x = {"face": clips(2, seed=5)}
    got = half.infer(x)["logits"]
    assert half.inputs["face"].dtype == "float16" and got.dtype == np.float32
    np.testing.assert_allclose(got, torch_cpu.infer(x)["logits"], atol=2e-2, rtol=2e-2)


def test_a_batch_of_one_traced_program_still_takes_any_batch(tmp_path) -> None:
    class Sum(torch.nn.Module):
        def forward(self, a, b):
            return a.sum(dim=1) + b.sum(dim=1)

    info = export_program(Sum(), (torch.ones(1, 4), torch.ones(1, 2)), tmp_path / "s.pt2",
                          output_names=["total"])
    assert info.inputs == ["a", "b"]                      # from the forward's signature
    engine = TorchEngine(tmp_path / "s.pt2")
    out = engine.infer({"a": np.ones((5, 4)), "b": np.ones((5, 2))})["total"]
    assert out.tolist() == [6.0] * 5


def test_two_inputs_match_onnxruntime(tmp_path) -> None:
    from train.export import example_inputs, export_onnx
    from train.models.registry import build_model

    kw = {"frames": 18, "size": 32, "num_classes": 5}
    torch.manual_seed(1)
    model = build_model("fusenet_late", kw).eval()
    torch.save({"arch": "fusenet_late", "kwargs": kw, "state_dict": model.state_dict()},
               tmp_path / "f.pt")
    export_onnx(tmp_path / "f.pt", tmp_path / "f.onnx")
    ex = example_inputs("fusenet_late", kw, batch=2)
    export_program(model, tuple(ex.values()), tmp_path / "f.pt2", input_names=list(ex),
                   output_names=["logits"])
    x = {k: v.numpy() for k, v in example_inputs("fusenet_late", kw, batch=3, seed=4).items()}
    assert set(x) == {"eyes", "mouth"}
    got = TorchEngine(tmp_path / "f.pt2").infer(x)["logits"]
    ref = OnnxRuntimeEngine(tmp_path / "f.onnx").infer(x)["logits"]
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=1e-4)


class Heads(NamedTuple):
    spot: torch.Tensor
    label: torch.Tensor


def test_namedtuple_outputs_are_exported_as_named_outputs(tmp_path) -> None:
    # torch.export cannot serialise an unregistered namedtuple output (the time-contrast
    # net returns one); export_program flattens it to a tuple.
    class TwoHeads(torch.nn.Module):
        def forward(self, x):
            return Heads(x.mean(dim=1), x * 3)

    export_program(TwoHeads(), (torch.ones(2, 4),), tmp_path / "h.pt2",
                   output_names=list(Heads._fields))
    out = TorchEngine(tmp_path / "h.pt2").infer({"x": np.ones((3, 4))})
    assert list(out) == ["spot", "label"]
    assert out["spot"].shape == (3,) and out["label"].tolist() == [[3.0] * 4] * 3


def test_program_info_is_readable_without_loading(tiny) -> None:
    info = read_program_info(tiny.program)
    assert info.inputs == ["face"] and info.outputs == ["logits"]
    assert info.metadata["mestream.arch"] == "stcnn"


def test_wrong_options(tiny) -> None:
    with pytest.raises(ValueError, match="cuda_graphs needs device='cuda'"):
        TorchEngine(tiny.program, cuda_graphs=True)
    with pytest.raises(ValueError, match="precision"):
        TorchEngine(tiny.program, precision="int8")
    if not torch.cuda.is_available():
        with pytest.raises(BackendUnavailable, match="sees no CUDA GPU"):
            TorchEngine(tiny.program, device="cuda")


def test_bucket_choice() -> None:
    buckets = (1, 2, 4, 8, 16, 32, 64)
    assert [bucket_for(n, buckets) for n in (1, 2, 3, 5, 17, 64, 65)] == [
        1, 2, 4, 8, 32, 64, None]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA torch and a GPU")
@pytest.mark.parametrize("precision, tol", [("fp32", 1e-3), ("fp16", 1e-2)])
def test_cuda_graphs_match_eager(tiny, torch_cpu, precision, tol) -> None:
    graphs = TorchEngine(tiny.program, device="cuda", precision=precision, cuda_graphs=True,
                         batch_buckets=(1, 4, 16))
    eager = TorchEngine(tiny.program, device="cuda", precision=precision)
    for n in (1, 3, 4, 9, 20):      # padded to 1, 4, 4, 16; 20 > 16 runs eagerly
        x = {"face": clips(n, seed=n)}
        got = graphs.infer(x)["logits"]
        assert got.shape == (n, 3) and got.dtype == np.float32
        np.testing.assert_allclose(got, eager.infer(x)["logits"], atol=tol, rtol=tol)
        np.testing.assert_allclose(got, torch_cpu.infer(x)["logits"], atol=tol, rtol=tol)
    graphs.close()
    eager.close()
