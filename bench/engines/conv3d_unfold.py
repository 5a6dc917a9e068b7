"""Rewrite a one-channel 3-D Conv -> Relu -> MaxPool into 2-D ops ONNX Runtime runs fast.

STCNN and FuseNet start with ``Conv3d(1 -> 32, kernel (15, 3, 3))``, ReLU and
``MaxPool3d(3)``. ONNX Runtime's CPU Conv runs a 3-D convolution as im2col + GEMM: for
STCNN at T = 96 a 135 x 315,208 column matrix per clip (170 MB), then the 40 MB conv
output, which the pool reads back.

With one input channel, the 15 frames under the kernel can be the input *channels* of a
2-D convolution: unfold the clip along time (``Gather``: T' x 15 frames per clip, 15x
the small input, not 135x), run ``Conv2d(15 -> 32, 3 x 3)`` + ReLU + 2-D ``MaxPool``
(at ``ORT_ENABLE_ALL`` ONNX Runtime turns these into its blocked NCHWc convolution with
the ReLU fused), then finish the pool along time with ``ReduceMax`` over groups of 3
frames and transpose back to ``(N, C, T, H, W)``. Max is separable, so pooling space
first and time second is exactly ``MaxPool3d``. Frames, rows and columns that no pooling
window reads (floor mode drops them) are cropped first: 7 % of the conv work at T = 96,
25 % at T = 18. The weights are the same numbers in the same order, so the outputs
match the plain graph's to float rounding (identical in the checks made here).

Needs the ``onnx`` package (the train/test extra); the runtime falls back to the plain
graph without it.

Example (a random STCNN-like head, rewritten and compared with ONNX Runtime):
    >>> import numpy as np, onnx, onnxruntime as ort
    >>> from onnx import TensorProto, helper, numpy_helper
    >>> rng = np.random.default_rng(0)
    >>> w = numpy_helper.from_array(rng.standard_normal((4, 1, 5, 3, 3), np.float32), "w")
    >>> b = numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b")
    >>> x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, 12, 11, 11])
    >>> y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    >>> nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[5, 3, 3]),
    ...          helper.make_node("Relu", ["c"], ["r"]),
    ...          helper.make_node("MaxPool", ["r"], ["y"], kernel_shape=[3, 3, 3],
    ...                           strides=[3, 3, 3])]
    >>> g = helper.make_graph(nodes, "g", [x], [y], initializer=[w, b])
    >>> m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    >>> fast, n = unfold_conv3d(m)
    >>> n
    1
    >>> run = lambda model, v: ort.InferenceSession(model.SerializeToString(),
    ...     providers=["CPUExecutionProvider"]).run(None, {"x": v})[0]
    >>> v = rng.standard_normal((2, 1, 12, 11, 11), np.float32)
    >>> bool(np.allclose(run(m, v), run(fast, v), atol=1e-4))
    True
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _consumers(graph: Any, name: str) -> list[Any]:
    return [n for n in graph.node if name in n.input]


def _static_shape(model: Any, name: str) -> list[int] | None:
    """The shape of value ``name`` with its batch axis unknown, else None."""
    for value in [*model.graph.input, *model.graph.value_info]:
        if value.name == name:
            dims = value.type.tensor_type.shape.dim
            return [d.dim_value if d.HasField("dim_value") else -1 for d in dims]
    return None


def _match(model: Any, conv: Any, weights: dict[str, np.ndarray]) -> tuple | None:
    """(relu, pool, input shape) when ``conv`` heads a pattern this rewrite handles."""
    a = _attrs(conv)
    w = weights.get(conv.input[1])
    if w is None or w.ndim != 5 or w.shape[1] != 1 or a.get("group", 1) != 1:
        return None
    if any(a.get("pads", [0]) ) or set(a.get("strides", [1])) != {1} \
            or set(a.get("dilations", [1])) != {1} or a.get("auto_pad", b"NOTSET") not in (
                b"NOTSET", "NOTSET"):
        return None
    if len(conv.input) > 2 and conv.input[2] not in weights:
        return None
    relus = _consumers(model.graph, conv.output[0])
    if len(relus) != 1 or relus[0].op_type != "Relu":
        return None
    pools = _consumers(model.graph, relus[0].output[0])
    if len(pools) != 1 or pools[0].op_type != "MaxPool" or len(pools[0].output) != 1:
        return None
    p = _attrs(pools[0])
    k = list(p["kernel_shape"])
    if len(k) != 3 or list(p.get("strides", [1, 1, 1])) != k or any(p.get("pads", [0])) \
            or p.get("ceil_mode", 0) or set(p.get("dilations", [1])) != {1}:
        return None
    shape = _static_shape(model, conv.input[0])
    if shape is None or len(shape) != 5 or min(shape[1:]) < 1:
        return None
    return relus[0], pools[0], shape


def unfold_conv3d(model: Any) -> tuple[Any, int]:
    """A copy of ``model`` (an ``onnx.ModelProto``) with every matching one-channel
    Conv3d -> Relu -> MaxPool3d rewritten (see the module docstring), and how many."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.shape_inference.infer_shapes(model)
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    weights = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    # The exporter shares equal weights (e.g. two all-zero biases) through Identity
    # nodes; make those plain initializers so the patterns (and quantisers) see them.
    for node in [n for n in graph.node if n.op_type == "Identity" and n.input[0] in weights]:
        weights[node.output[0]] = weights[node.input[0]]
        graph.initializer.append(numpy_helper.from_array(weights[node.input[0]],
                                                         node.output[0]))
        graph.node.remove(node)
    rewritten = 0
    for conv in [n for n in graph.node if n.op_type == "Conv"]:
        found = _match(out, conv, weights)
        if found is None:
            continue
        relu, pool, (_, _, t, h, wd) = found
        w = weights[conv.input[1]]
        c, _, kt, kh, kw = w.shape
        pt, ph, pw = _attrs(pool)["kernel_shape"]
        t_out = t - kt + 1
        t_used = t_out // pt * pt            # floor mode: the pool drops the rest
        h2, w2 = (h - kh + 1) // ph, (wd - kw + 1) // pw
        if t_used < pt or h2 < 1 or w2 < 1:
            continue
        p = f"{conv.name or conv.output[0]}/unfold"
        # Only the rows, columns and frames some pooling window reads are computed.
        h_in, w_in = h2 * ph + kh - 1, w2 * pw + kw - 1
        idx = np.arange(t_used)[:, None] + np.arange(kt)[None, :]
        inits = [
            numpy_helper.from_array(np.array([1], np.int64), f"{p}/axis1"),
            numpy_helper.from_array(idx.astype(np.int64), f"{p}/frames"),
            numpy_helper.from_array(np.array([-1, kt, h_in, w_in], np.int64),
                                    f"{p}/shape2d"),
            numpy_helper.from_array(w.reshape(c, kt, kh, kw), f"{p}/w2d"),
            numpy_helper.from_array(np.array([-1, t_used // pt, pt, c, h2, w2], np.int64),
                                    f"{p}/shape_t"),
            numpy_helper.from_array(np.array([0, 0], np.int64), f"{p}/crop_start"),
            numpy_helper.from_array(np.array([h_in, w_in], np.int64), f"{p}/crop_end"),
            numpy_helper.from_array(np.array([2, 3], np.int64), f"{p}/crop_axes"),
        ]
        conv_in = [inits[3].name]
        if len(conv.input) > 2:
            conv_in.append(conv.input[2])
        nodes = [
            helper.make_node("Squeeze", [conv.input[0], inits[0].name], [f"{p}/x"]),
            helper.make_node("Slice", [f"{p}/x", inits[5].name, inits[6].name, inits[7].name],
                             [f"{p}/crop"]),
            helper.make_node("Gather", [f"{p}/crop", inits[1].name], [f"{p}/win"], axis=1),
            helper.make_node("Reshape", [f"{p}/win", inits[2].name], [f"{p}/x2d"]),
            helper.make_node("Conv", [f"{p}/x2d", *conv_in], [f"{p}/c2d"],
                             kernel_shape=[kh, kw]),
            helper.make_node("Relu", [f"{p}/c2d"], [f"{p}/r2d"]),
            helper.make_node("MaxPool", [f"{p}/r2d"], [f"{p}/p2d"],
                             kernel_shape=[ph, pw], strides=[ph, pw]),
            helper.make_node("Reshape", [f"{p}/p2d", inits[4].name], [f"{p}/pt"]),
            helper.make_node("ReduceMax", [f"{p}/pt"], [f"{p}/pmax"], axes=[2], keepdims=0),
            helper.make_node("Transpose", [f"{p}/pmax"], [pool.output[0]],
                             perm=[0, 2, 1, 3, 4]),
        ]
        at = list(graph.node).index(conv)
        for old in (conv, relu, pool):
            graph.node.remove(old)
        for i, node in enumerate(nodes):
            graph.node.insert(at + i, node)
        graph.initializer.extend(inits)
        rewritten += 1
    del graph.value_info[:]          # stale intermediate shapes of the removed nodes
    used = {i for n in graph.node for i in n.input}
    keep = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    return out, rewritten
