"""ONNX -> TensorRT build logic, driven with a fake ``tensorrt`` module: FP16 the way
each major version wants it, one profile over the batch axis of every input, the timing
cache kept beside the plan, and clear errors."""

from __future__ import annotations

import json

import onnx
import pytest
from onnx import TensorProto, helper

from engines import build, tensorrt_import
from engines.build import batch_profile, build_engine, plan_path_for, precision_path
from engines.errors import BackendUnavailable
from engines.onnx_graph import read_onnx_graph
from tests.engines.fake_tensorrt import FakeBuilderFlag, FakeNetworkFlag, FakeTensorRT


@pytest.fixture
def use_trt(monkeypatch):
    def install(version: str, **kw) -> FakeTensorRT:
        fake = FakeTensorRT(version, **kw)
        monkeypatch.setattr(tensorrt_import, "import_tensorrt", lambda *_: fake)
        return fake
    return install


def two_input_graph(path, elem=TensorProto.FLOAT, batch="batch"):
    """eyes + mouth -> Add -> logits, with one initializer of the same float type."""
    eyes = helper.make_tensor_value_info("eyes", elem, [batch, 1, 18, 32, 32])
    mouth = helper.make_tensor_value_info("mouth", elem, [batch, 1, 18, 32, 32])
    out = helper.make_tensor_value_info("logits", elem, [batch, 1, 18, 32, 32])
    bias = helper.make_tensor("bias", elem, [1], [0.5])
    nodes = [helper.make_node("Add", ["eyes", "mouth"], ["s"]),
             helper.make_node("Add", ["s", "bias"], ["logits"])]
    g = helper.make_graph(nodes, "g", [eyes, mouth], [out], initializer=[bias])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.save(m, str(path))
    return path


@pytest.mark.parametrize("major, precision, graph, expected", [
    (10, "fp16", "fp32", (False, True)),      # the FP16 builder flag, from an FP32 graph
    (10, "fp16", "fp16", (True, False)),      # an FP16 graph: strongly typed
    (10, "fp16", "mixed", (True, False)),
    (10, "fp32", "fp32", (False, False)),
    (11, "fp16", "fp16", (True, False)),
    (11, "fp16", "mixed", (True, False)),     # e.g. ModelOpt AutoCast with FP32 IO
    (11, "fp32", "fp32", (True, False)),
])
def test_precision_path(major, precision, graph, expected) -> None:
    path = precision_path(major, precision, graph)
    assert (path.strongly_typed, path.fp16_flag) == expected


def test_trt11_refuses_fp16_from_an_fp32_graph() -> None:
    with pytest.raises(ValueError) as err:
        precision_path(11, "fp16", "fp32")
    msg = str(err.value)
    assert "no FP16 builder flag" in msg and "mestream export" in msg
    assert "--precision fp16" in msg


def test_other_refusals() -> None:
    with pytest.raises(ValueError, match="would not be FP32"):
        precision_path(10, "fp32", "fp16")
    with pytest.raises(ValueError, match="too old"):
        precision_path(8, "fp16", "fp32")
    with pytest.raises(ValueError, match="fp16 or fp32"):
        precision_path(10, "int8", "fp32")


def test_profile_from_the_graph(tiny, tmp_path) -> None:
    profile = batch_profile(read_onnx_graph(tiny.onnx).inputs, 1, 16, 64)
    assert list(profile) == ["face"]
    face = profile["face"]
    assert (face.min, face.opt, face.max) == ((1, 1, 18, 32, 32), (16, 1, 18, 32, 32),
                                              (64, 1, 18, 32, 32))
    two = batch_profile(read_onnx_graph(two_input_graph(tmp_path / "f.onnx")).inputs, 2, 4, 8)
    assert {n: (p.min[0], p.opt[0], p.max[0]) for n, p in two.items()} == {
        "eyes": (2, 4, 8), "mouth": (2, 4, 8)}


def test_profile_refusals(tmp_path) -> None:
    fixed = read_onnx_graph(two_input_graph(tmp_path / "fixed.onnx", batch=4)).inputs
    with pytest.raises(ValueError, match="batch axis .* is not dynamic"):
        batch_profile(fixed, 1, 2, 4)
    with pytest.raises(ValueError, match=r"dynamic axes \[2\] besides the batch"):
        batch_profile({"face": (None, 1, None, 32, 32)}, 1, 2, 4)
    with pytest.raises(ValueError, match="min_batch <= opt_batch <= max_batch"):
        batch_profile({"face": (None, 1)}, 8, 2, 4)


def test_graph_precision_is_read_from_inputs_and_weights(tiny, tmp_path) -> None:
    assert read_onnx_graph(tiny.onnx).float_precision == "fp32"
    assert read_onnx_graph(tiny.onnx_fp16).float_precision == "fp16"
    assert read_onnx_graph(two_input_graph(tmp_path / "h.onnx", TensorProto.FLOAT16)
                           ).float_precision == "fp16"


def test_trt10_fp16_from_fp32_graph_sets_the_flag(use_trt, tiny, tmp_path) -> None:
    trt = use_trt("10.13.3.9")
    plan = build_engine(tiny.onnx, tmp_path / "out", precision="fp16", min_batch=1,
                        opt_batch=8, max_batch=32, workspace_mb=256)
    assert plan == tmp_path / "out" / "model-fp16-b1_8_32.plan"
    built = json.loads(plan.read_bytes())
    assert built["fp16_flag"] is True
    assert built["profiles"] == [{"face": [[1, 1, 18, 32, 32], [8, 1, 18, 32, 32],
                                           [32, 1, 18, 32, 32]]}]
    assert ("create_network", 0) in trt.calls
    assert ("set_flag", FakeBuilderFlag.FP16) in trt.calls
    assert ("workspace", 0, 256 << 20) in trt.calls
    assert ("set_timing_cache", False) in trt.calls
    assert ("parse", str(tiny.onnx)) in trt.calls


def test_trt10_fp16_graph_is_strongly_typed(use_trt, tiny, tmp_path) -> None:
    trt = use_trt("10.13.3.9")
    build_engine(tiny.onnx_fp16, tmp_path / "m.plan")
    assert ("create_network", 1 << int(FakeNetworkFlag.STRONGLY_TYPED)) in trt.calls
    assert not any(c[0] == "set_flag" for c in trt.calls)


def test_trt11_fp16_graph_builds_without_flags(use_trt, tiny, tmp_path) -> None:
    trt = use_trt("11.4.0.106")
    plan = build_engine(tiny.onnx_fp16, tmp_path / "m.engine")
    assert plan == tmp_path / "m.engine" and plan.is_file()
    # Strong typing is always on in 11 (the flag is deprecated and ignored): none passed.
    assert ("create_network", 0) in trt.calls
    assert not any(c[0] == "set_flag" for c in trt.calls)


def test_trt11_fp32_graph_fails_before_building(use_trt, tiny, tmp_path) -> None:
    trt = use_trt("11.4.0.106")
    with pytest.raises(ValueError, match="mestream export"):
        build_engine(tiny.onnx, tmp_path / "m.plan", precision="fp16")
    assert not any(c[0] in ("build", "parse") for c in trt.calls)
    assert not (tmp_path / "m.plan").exists()


def test_every_input_gets_the_profile(use_trt, tmp_path) -> None:
    use_trt("10.13.3.9")
    onnx_path = two_input_graph(tmp_path / "fuse.onnx")
    plan = build_engine(onnx_path, tmp_path, precision="fp32", min_batch=1, opt_batch=4,
                        max_batch=16)
    shapes = json.loads(plan.read_bytes())["profiles"][0]
    assert sorted(shapes) == ["eyes", "mouth"]
    assert all(s[2][0] == 16 for s in shapes.values())


def test_timing_cache_is_read_and_written_beside_the_plan(use_trt, tiny, tmp_path) -> None:
    trt = use_trt("10.13.3.9")
    plan = build_engine(tiny.onnx, tmp_path / "m.plan")
    cache = tmp_path / "m.timing.cache"
    assert cache.read_bytes() == b"+tuned"
    assert ("create_timing_cache", b"") in trt.calls
    build_engine(tiny.onnx, plan)
    assert ("create_timing_cache", b"+tuned") in trt.calls      # the first build's
    assert cache.read_bytes() == b"+tuned+tuned"
    shared = tmp_path / "shared.cache"
    build_engine(tiny.onnx, tmp_path / "n.plan", timing_cache=shared)
    assert shared.is_file() and not (tmp_path / "n.timing.cache").exists()


def test_parse_and_build_failures(use_trt, tiny, tmp_path) -> None:
    use_trt("10.13.3.9", parse_ok=False)
    with pytest.raises(RuntimeError, match="could not parse .*unsupported 4D kernel"):
        build_engine(tiny.onnx, tmp_path / "m.plan")
    use_trt("10.13.3.9", build_ok=False)
    with pytest.raises(RuntimeError, match="failed to build"):
        build_engine(tiny.onnx, tmp_path / "m.plan")
    assert not (tmp_path / "m.plan").exists()


def test_without_tensorrt_the_error_says_how_to_install(monkeypatch, tiny, tmp_path) -> None:
    def missing():
        raise BackendUnavailable(tensorrt_import.INSTALL_HINT)
    monkeypatch.setattr(tensorrt_import, "import_tensorrt", missing)
    with pytest.raises(BackendUnavailable, match="pip install tensorrt-cu12"):
        build_engine(tiny.onnx, tmp_path / "m.plan")


def test_real_import_without_tensorrt() -> None:
    if tensorrt_import.tensorrt_installed():
        pytest.skip("tensorrt is installed here")
    with pytest.raises(BackendUnavailable, match="NVIDIA's index"):
        tensorrt_import.import_tensorrt()


def test_plan_names(tmp_path) -> None:
    onnx_path = tmp_path / "stcnn.onnx"
    assert plan_path_for(onnx_path, tmp_path / "x.plan", "fp16", 1, 16, 64) == (
        tmp_path / "x.plan")
    assert plan_path_for(onnx_path, tmp_path / "dir", "fp32", 1, 2, 4) == (
        tmp_path / "dir" / "stcnn-fp32-b1_2_4.plan")
    assert build.DEFAULT_WORKSPACE_MB > 0
