"""The pieces behind the classifier benchmark rows: FLOPs counted from a graph, the
Conv3d unfold rewrite (same answers), INT8 quantisation, ORT options, and the GPU
FP16/FP32 sweep run on CPU (its logic; the GPU itself is only measured on one)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from bench.engines.conv3d_unfold import unfold_conv3d
from bench.engines.flops import count_flops
from bench.engines.quantize import quantize_int8
from engines.onnxruntime_engine import OnnxRuntimeEngine
from tests.engines.conftest import TinyModel

BUNDLED = Path(__file__).resolve().parents[2] / "pipeline" / "weights" / "stcnn_synth_casme2.onnx"


def stcnn_graph(frames: int, size: int = 64, classes: int = 3) -> onnx.ModelProto:
    """STCNN's graph with its weights as shaped inputs (no data): enough to count."""
    t, hw = (frames - 14) // 3, (size - 2) // 3
    flat = 32 * t * hw * hw
    v = helper.make_tensor_value_info
    inputs = [v("face", TensorProto.FLOAT, ["batch", 1, frames, size, size]),
              v("cw", TensorProto.FLOAT, [32, 1, 15, 3, 3]), v("cb", TensorProto.FLOAT, [32]),
              v("fw", TensorProto.FLOAT, [128, flat]), v("fb", TensorProto.FLOAT, [128]),
              v("ow", TensorProto.FLOAT, [classes, 128]), v("ob", TensorProto.FLOAT, [classes])]
    nodes = [helper.make_node("Conv", ["face", "cw", "cb"], ["c"], kernel_shape=[15, 3, 3]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[3, 3, 3],
                              strides=[3, 3, 3]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "fw", "fb"], ["h"], transB=1),
             helper.make_node("Relu", ["h"], ["hr"]),
             helper.make_node("Gemm", ["hr", "ow", "ob"], ["logits"], transB=1)]
    graph = helper.make_graph(nodes, "stcnn", inputs,
                              [v("logits", TensorProto.FLOAT, ["batch", classes])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_stcnn_t96_is_about_2_8_gflop() -> None:
    macs = 32 * 82 * 62 * 62 * 135 + 345_600 * 128 + 128 * 3
    assert count_flops(stcnn_graph(96)) == 2 * macs
    assert 2.80e9 < 2 * macs < 2.82e9


def test_flops_of_the_bundled_model_per_clip() -> None:
    macs = 32 * 4 * 62 * 62 * 135 + 12_800 * 128 + 128 * 5   # T = 18, 5 classes
    assert count_flops(BUNDLED) == 2 * macs


def run(model: onnx.ModelProto | Path, inputs: dict[str, np.ndarray]) -> np.ndarray:
    data = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    return ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, inputs)[0]


def test_unfolded_bundled_model_gives_the_same_logits() -> None:
    plain = onnx.load(str(BUNDLED))
    fast, n = unfold_conv3d(plain)
    assert n == 1
    ops = [node.op_type for node in fast.graph.node]
    assert "MaxPool" in ops and ops.count("Conv") == 1
    conv = next(node for node in fast.graph.node if node.op_type == "Conv")
    assert len(helper.get_attribute_value(conv.attribute[0])) == 2     # a 2-D conv now
    x = {"face": np.random.default_rng(0).standard_normal((3, 1, 18, 64, 64), np.float32)}
    np.testing.assert_allclose(run(fast, x), run(plain, x), rtol=1e-5, atol=1e-4)
    assert count_flops(fast) < count_flops(plain)       # the unused frame is cropped


def test_unfold_sees_weights_shared_through_identity() -> None:
    """The exporter shares equal weights (FuseNet's zero biases) via Identity nodes."""
    rng = np.random.default_rng(1)
    w = numpy_helper.from_array(rng.standard_normal((4, 1, 5, 3, 3), np.float32), "w")
    b = numpy_helper.from_array(np.zeros(4, np.float32), "b")
    v = helper.make_tensor_value_info
    nodes = [helper.make_node("Identity", ["b"], ["b2"])]
    for s in ("a", "m"):
        nodes += [helper.make_node("Conv", [s, "w", "b2"], [f"{s}c"], kernel_shape=[5, 3, 3]),
                  helper.make_node("Relu", [f"{s}c"], [f"{s}r"]),
                  helper.make_node("MaxPool", [f"{s}r"], [f"{s}p"], kernel_shape=[3, 3, 3],
                                   strides=[3, 3, 3])]
    nodes.append(helper.make_node("Add", ["ap", "mp"], ["y"]))
    g = helper.make_graph(nodes, "g", [v(s, TensorProto.FLOAT, ["n", 1, 9, 8, 8])
                                       for s in ("a", "m")],
                          [v("y", TensorProto.FLOAT, None)], initializer=[w, b])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    fast, n = unfold_conv3d(model)
    assert n == 2
    x = {s: rng.standard_normal((2, 1, 9, 8, 8), np.float32) for s in ("a", "m")}
    np.testing.assert_allclose(run(fast, x), run(model, x), rtol=1e-5, atol=1e-5)


def test_unfold_leaves_other_convolutions_alone() -> None:
    v = helper.make_tensor_value_info
    w = numpy_helper.from_array(np.ones((2, 3, 3, 3, 3), np.float32), "w")   # 3 channels
    g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["c"]),
                           helper.make_node("Relu", ["c"], ["r"]),
                           helper.make_node("MaxPool", ["r"], ["y"], kernel_shape=[2, 2, 2],
                                            strides=[2, 2, 2])], "g",
                          [v("x", TensorProto.FLOAT, ["n", 3, 6, 6, 6])],
                          [v("y", TensorProto.FLOAT, None)], initializer=[w])
    _, n = unfold_conv3d(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    assert n == 0


def test_int8_unfolded_model_runs_and_mostly_agrees(tmp_path: Path) -> None:
    fast, _ = unfold_conv3d(onnx.load(str(BUNDLED)))
    onnx.save(fast, str(tmp_path / "fast.onnx"))
    rng = np.random.default_rng(2)
    calib = [{"face": rng.standard_normal((1, 1, 18, 64, 64), np.float32)} for _ in range(2)]
    out = quantize_int8(tmp_path / "fast.onnx", tmp_path / "int8.onnx", calib)
    ops = [n.op_type for n in onnx.load(str(out)).graph.node]
    assert "QLinearConv" in ops
    assert ops[:5] == ["QuantizeLinear", "Squeeze", "Slice", "Gather", "Reshape"]  # hoisted
    late = quantize_int8(tmp_path / "fast.onnx", tmp_path / "late.onnx", calib, hoist=False)
    assert [n.op_type for n in onnx.load(str(late)).graph.node][0] == "Squeeze"
    x = {"face": rng.standard_normal((4, 1, 18, 64, 64), np.float32)}
    np.testing.assert_array_equal(run(out, x), run(late, x))    # hoisting is exact
    assert run(out, x).shape == run(BUNDLED, x).shape == (4, 5)


def test_ort_engine_graph_optimization_option() -> None:
    engine = OnnxRuntimeEngine(BUNDLED, graph_optimization="extended", allow_spinning=False)
    assert engine.infer({"face": np.zeros((1, 1, 18, 64, 64))})["logits"].shape == (1, 5)
    with pytest.raises(ValueError, match="graph_optimization must be one of"):
        OnnxRuntimeEngine(BUNDLED, graph_optimization="max")


def test_precision_sweep_on_cpu_computes_ratios_from_its_own_rows(tiny: TinyModel) -> None:
    from bench.engines.torch_precision_bench import precision_sweep, speedups

    rows = precision_sweep(tiny.program, "cpu", [1, 3], repeats=2, cuda_graphs=(False,))
    assert {(r["precision"], r["batch"]) for r in rows} == {
        ("fp32", 1), ("fp16", 1), ("fp32", 3), ("fp16", 3)}
    by = {(r["precision"], r["batch"]): r["clips_per_s"] for r in rows}
    for (graphs, n), ratio in speedups(rows).items():
        assert not graphs and ratio == pytest.approx(by[("fp16", n)] / by[("fp32", n)])
    with pytest.raises(ValueError, match="CUDA graphs need a CUDA device"):
        precision_sweep(tiny.program, "cpu", [1], cuda_graphs=(True,))


def test_gpu_rows_on_cpu_name_the_device_and_the_target(tiny: TinyModel) -> None:
    from bench.gpu import precision_rows

    rows = precision_rows(tiny.program, "cpu", "test CPU", [1, 2], repeats=2,
                          cuda_graphs=(False,))
    assert len(rows) == 3 and all("test CPU" in r[0] for r in rows)
    assert rows[-1][0].startswith("TARGET") and rows[-1][3] == ">= 3x"
    best = max(float(r[1].rsplit("x", 1)[1]) for r in rows[:-1])
    assert rows[-1][1].startswith(f"x{best:.2f}")
    assert rows[-1][1].endswith("met" if best >= 3 else "missed")


def test_engine_bench_takes_the_torch_device(tiny: TinyModel, capsys) -> None:
    from engines import commands

    code = commands.main(["engine", "bench", str(tiny.program), "--backend", "torch",
                          "--device", "cpu", "--batch", "1,2", "--repeats", "1"])
    assert code == 0 and "| torch | fp32 | cpu | 2 |" in capsys.readouterr().out
    code = commands.main(["engine", "bench", str(tiny.program), "--backend", "torch",
                          "--device", "cpu", "--cuda-graphs", "--batch", "1"])
    assert code == 2 and "cuda_graphs needs device='cuda'" in capsys.readouterr().err
