"""Floating-point operations of one clip through an ONNX graph, counted from the graph.

2 FLOP per multiply-accumulate of Conv, ConvTranspose, Gemm and MatMul; bias adds,
activations and pooling are left out (well under 1 % for the models here). Shapes come
from ONNX shape inference with every dynamic axis set to 1, so the count is per clip.
STCNN at T = 96 (Conv3d 1 -> 32, kernel 15x3x3 over 96x64x64, then a 345,600 x 128
dense layer) is 2 x (32*82*62*62*135 + 345,600*128 + 128*3) = 2.81 GFLOP.

Count the plain FP32 graph: a rewritten or quantised copy does the same model work
(quantised ops are not counted). Needs the ``onnx`` package (the train/test extra).

Example:
    >>> import numpy as np, onnx
    >>> from onnx import TensorProto, helper, numpy_helper
    >>> w = numpy_helper.from_array(np.zeros((8, 1, 3, 3), np.float32), "w")
    >>> x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, 10, 10])
    >>> y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    >>> g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"])], "g", [x], [y],
    ...                       initializer=[w])
    >>> count_flops(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    9216

    (8 filters x 8 x 8 outputs x 9 taps x 2.)
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any


def _per_clip(model: Any) -> Any:
    """A copy with every named/unknown input dimension fixed to 1, shapes inferred."""
    import onnx

    m = onnx.ModelProto()
    m.CopyFrom(model)
    for value in m.graph.input:
        for d in value.type.tensor_type.shape.dim:
            if not d.HasField("dim_value"):
                d.dim_value = 1
    for value in [*m.graph.output, *m.graph.value_info]:   # stale symbolic shapes
        value.type.tensor_type.ClearField("shape")
    return onnx.shape_inference.infer_shapes(m)


def count_flops(model: Any) -> int:
    """FLOPs of one clip (batch 1) through ``model``: an ``onnx.ModelProto`` or a path."""
    import onnx

    if isinstance(model, str | Path):
        model = onnx.load(str(model))
    m = _per_clip(model)
    shapes: dict[str, list[int]] = {}
    for value in [*m.graph.input, *m.graph.output, *m.graph.value_info]:
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = [d.dim_value if d.HasField("dim_value") else 0 for d in dims]
    for t in m.graph.initializer:
        shapes[t.name] = list(t.dims)

    def shape(name: str) -> list[int]:
        s = shapes.get(name)
        if not s or 0 in s:
            raise ValueError(f"no static shape for {name!r}: cannot count FLOPs")
        return s

    total = 0
    for node in m.graph.node:
        op = node.op_type
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        # Whole output tensors (batch is 1): a rewritten graph may fold time into axis 0.
        if op == "Conv":
            w = shape(node.input[1])
            total += 2 * math.prod(shape(node.output[0])) * math.prod(w[1:])  # C_in/g * k
        elif op == "ConvTranspose":
            w = shape(node.input[1])           # (C_in, C_out/group, k...)
            x = shape(node.input[0])
            total += 2 * math.prod(x) * math.prod(w[1:])
        elif op == "Gemm":
            a = shape(node.input[0])
            k = a[0] if attrs.get("transA", 0) else a[-1]
            total += 2 * math.prod(shape(node.output[0])) * k
        elif op == "MatMul":
            a = shape(node.input[0])
            total += 2 * math.prod(shape(node.output[0])) * a[-1]
    return total
