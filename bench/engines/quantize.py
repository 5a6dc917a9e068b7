"""Static INT8 quantisation of an ONNX classifier for ONNX Runtime's CPU kernels.

``onnxruntime.quantization.quantize_static`` in the QOperator format (``QLinearConv``,
``QGemm``): uint8 activations, int8 weights, scales from min/max calibration on the
batches given. Use it on the graph :func:`bench.engines.conv3d_unfold.unfold_conv3d` wrote:
ONNX Runtime's 3-D ``QLinearConv`` has no fast kernel (about 8x slower than FP32 on the
benchmark machine), its 2-D one runs on MLAS's integer GEMM.

Afterwards each per-tensor ``QuantizeLinear`` is moved above the element-moving ops that
feed it (:func:`quantize_before_moves`): the unfold's Gather then copies uint8, and the
clip is quantised once rather than its 15x-unfolded copy (exact; ~6-10 % less CPU for
STCNN T = 96 in a single-thread check here).

``reduce_range`` (7-bit weights) is on by default: on x86 CPUs without VNNI (AVX2 only,
as on the benchmark machine) the u8 x s8 multiply pairs can saturate at 8 bits.
Calibrate on inputs shaped like real ones (normalised clips); the benchmark calibrates
on random normal clips, which is enough for timing but not for accuracy.

Needs the ``onnx`` package (the train/test extra).

Example:
    >>> import tempfile, numpy as np, onnx
    >>> from onnx import TensorProto, helper, numpy_helper
    >>> w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, 2, 3, 3),
    ...                             np.float32), "w")
    >>> x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 2, 8, 8])
    >>> y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    >>> g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"])], "g", [x], [y],
    ...                       initializer=[w])
    >>> m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    >>> d = tempfile.mkdtemp(); onnx.save(m, d + "/m.onnx")
    >>> calib = [{"x": np.random.default_rng(1).standard_normal((2, 2, 8, 8), np.float32)}]
    >>> out = quantize_int8(d + "/m.onnx", d + "/m_int8.onnx", calib)
    >>> sorted({n.op_type for n in onnx.load(str(out)).graph.node})
    ['DequantizeLinear', 'QLinearConv', 'QuantizeLinear']
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np


def quantize_int8(model: str | Path, out: str | Path,
                  calibration: Iterable[dict[str, np.ndarray]],
                  reduce_range: bool = True, hoist: bool = True) -> Path:
    """Write the INT8 (QOperator) version of ``model`` to ``out``, calibrated on the
    input dicts of ``calibration``; returns ``out``. ``hoist``: then
    :func:`quantize_before_moves`."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    batches = list(calibration)
    if not batches:
        raise ValueError("quantize_int8 needs at least one calibration batch")

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.onnx")
    quantize_static(str(model), str(tmp), _Reader(), quant_format=QuantFormat.QOperator,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    reduce_range=reduce_range)
    if hoist:
        import onnx

        model_q, _ = quantize_before_moves(onnx.load(str(tmp)))
        onnx.save(model_q, str(tmp))
    tmp.replace(out)
    return out


# Ops that only move or select elements: quantising before or after them is the same.
MOVES = frozenset({"Reshape", "Gather", "Slice", "Squeeze", "Unsqueeze", "Transpose"})


def quantize_before_moves(model: Any) -> tuple[Any, int]:
    """Move each per-tensor ``QuantizeLinear`` above the chain of element-moving ops
    that feeds it (e.g. the unfold's Squeeze -> Slice -> Gather -> Reshape), so it
    quantises the clip once instead of its 15x-unfolded copy and the moves shift bytes,
    not floats. Exact: quantisation is elementwise. Returns (a copy, how many moved)."""
    from onnx import ModelProto, numpy_helper

    out = ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    weights = {t.name: t for t in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}

    def consumers(name: str) -> list[Any]:
        return [n for n in graph.node if name in n.input]

    moved = 0
    for q in [n for n in graph.node if n.op_type == "QuantizeLinear"]:
        scale = weights.get(q.input[1])
        if scale is None or numpy_helper.to_array(scale).size != 1:
            continue                        # per-channel scales depend on the layout
        chain = []
        node = producer.get(q.input[0])
        while node is not None and node.op_type in MOVES and len(
                consumers(node.output[0])) == 1:
            chain.append(node)
            node = producer.get(node.input[0])
        if not chain:
            continue
        first, last = chain[-1], chain[0]
        source = first.input[0]
        quantised = f"{source}/quantized_early"
        q_early = q.__class__()
        q_early.CopyFrom(q)
        del q_early.input[:]
        q_early.input.extend([source, *q.input[1:]])
        del q_early.output[:]
        q_early.output.append(quantised)
        q_early.name = f"{q.name}/early"
        first.input[0] = quantised
        last.output[0] = q.output[0]       # the moves now end in the quantised tensor
        index = list(graph.node).index(first)
        graph.node.remove(q)
        graph.node.insert(index, q_early)
        moved += 1
    if moved:
        del graph.value_info[:]
    return out, moved
