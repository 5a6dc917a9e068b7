"""Checkpoint -> ONNX: ONNX Runtime gives PyTorch's answers (FP32 within 1e-4, at a
batch size other than the traced one), the FP16 graph is FP16 throughout, and the
metadata carries what a server needs."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from tests.conftest import REPO, mestream
from train.export import example_inputs, export_onnx
from train.models.registry import ARCHITECTURES, build_model

SMALL = {
    "stcnn": {"frames": 18, "size": 32, "num_classes": 3},
    "fusenet_intermediate": {"frames": 18, "size": 32, "num_classes": 3},
    "fusenet_late": {"frames": 18, "size": 32, "num_classes": 5},
    "time_contrast": {"frames": 8, "size": 32, "num_classes": 3},
}


def checkpoint(tmp_path, arch: str):
    torch.manual_seed(0)
    model = build_model(arch, SMALL[arch])
    path = tmp_path / f"{arch}.pt"
    labels = [f"c{i}" for i in range(SMALL[arch]["num_classes"])]
    torch.save({"arch": arch, "kwargs": SMALL[arch], "state_dict": model.state_dict(),
                "labels": labels, "normalisation": {"mean": 0.5, "max": 1.0},
                "trained_on": "unit test (random weights)"}, path)
    return model.eval(), path


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("arch", sorted(SMALL))
def test_fp32_onnx_matches_pytorch(tmp_path, arch) -> None:
    model, path = checkpoint(tmp_path, arch)
    meta = export_onnx(path, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    inputs = example_inputs(arch, SMALL[arch], batch=3, seed=1)   # traced with batch 2
    got = session.run(None, {k: v.numpy() for k, v in inputs.items()})
    with torch.no_grad():
        ref = model(*inputs.values())
    ref = list(ref) if isinstance(ref, tuple) else [ref]
    assert len(got) == len(ref) == len(ARCHITECTURES[arch].outputs)
    for g, r in zip(got, ref, strict=True):
        assert g.shape == tuple(r.shape)
        np.testing.assert_allclose(g, r.numpy(), atol=1e-4, rtol=1e-4)
    assert json.loads(meta["mestream.labels"]) == [f"c{i}" for i in range(
        SMALL[arch]["num_classes"])]
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    assert props["mestream.arch"] == arch and props["mestream.precision"] == "fp32"
    assert props["mestream.opset"] == "17" and "random" in props["mestream.trained_on"]


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("arch", ["stcnn", "fusenet_late"])
def test_fp16_graph_is_fp16_and_close_to_fp32(tmp_path, arch) -> None:
    model, path = checkpoint(tmp_path, arch)
    export_onnx(path, tmp_path / "m16.onnx", precision="fp16")
    proto = onnx.load(str(tmp_path / "m16.onnx"))
    f16 = onnx.TensorProto.FLOAT16
    assert all(i.type.tensor_type.elem_type == f16 for i in proto.graph.input)
    assert all(o.type.tensor_type.elem_type == f16 for o in proto.graph.output)
    assert all(t.data_type == f16 for t in proto.graph.initializer
               if t.data_type in (onnx.TensorProto.FLOAT, f16))
    session = ort.InferenceSession(str(tmp_path / "m16.onnx"),
                                   providers=["CPUExecutionProvider"])
    inputs = example_inputs(arch, SMALL[arch], batch=2, seed=2)
    got = session.run(None, {k: v.half().numpy() for k, v in inputs.items()})[0]
    with torch.no_grad():
        ref = model(*inputs.values()).numpy()
    np.testing.assert_allclose(got.astype(np.float32), ref, atol=2e-2, rtol=2e-2)


def test_export_cli(tmp_path) -> None:
    _, path = checkpoint(tmp_path, "stcnn")
    proc = subprocess.run(mestream("export", str(path), "--out", str(tmp_path / "x.onnx"),
                                   "--precision", "fp16"), cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "x.onnx").exists() and "fp16" in proc.stdout


def test_export_refuses_a_file_that_is_not_a_checkpoint(tmp_path) -> None:
    torch.save({"weights": 1}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="not a mestream checkpoint"):
        export_onnx(tmp_path / "bad.pt", tmp_path / "x.onnx")
