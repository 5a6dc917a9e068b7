"""Where an ONNX Runtime session spends its time, per operator, from ORT's own profiler.

Example:
    >>> import tempfile, numpy as np, onnx
    >>> from onnx import TensorProto, helper
    >>> x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])
    >>> y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])
    >>> g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    >>> m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    >>> path = tempfile.mkdtemp() + "/relu.onnx"; onnx.save(m, path)
    >>> shares = op_time_shares(path, {"x": np.ones((2, 4), np.float32)}, runs=2)
    >>> list(shares), round(sum(shares.values()), 6)
    (['Relu'], 1.0)
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np


def op_times_ms(path: str | Path, inputs: dict[str, np.ndarray], runs: int = 3,
                graph_optimization: str | None = None) -> dict[str, float]:
    """Mean milliseconds per run spent in each operator type (after ORT's fusions, so
    e.g. ``FusedConv`` is Conv + ReLU), largest first; the mean over ``runs`` + 1
    profiled runs of a session that has run once before."""
    import onnxruntime as ort

    from engines.onnxruntime_engine import GRAPH_OPTIMIZATION

    options = ort.SessionOptions()
    if graph_optimization is not None:
        options.graph_optimization_level = getattr(ort.GraphOptimizationLevel,
                                                   GRAPH_OPTIMIZATION[graph_optimization])
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    session.run(None, inputs)                 # warm-up, not profiled
    with tempfile.TemporaryDirectory() as tmp:
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(tmp, "ort")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        session.run(None, inputs)             # this session's own warm-up
        for _ in range(runs):
            session.run(None, inputs)
        events = json.loads(Path(session.end_profiling()).read_text())
    totals: Counter[str] = Counter()
    for event in events:
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            totals[event["args"]["op_name"]] += event["dur"] / 1e3
    return {op: ms / (runs + 1) for op, ms in totals.most_common()}


def op_time_shares(path: str | Path, inputs: dict[str, np.ndarray], runs: int = 3,
                   graph_optimization: str | None = None) -> dict[str, float]:
    """:func:`op_times_ms` as fractions of the operators' total."""
    times = op_times_ms(path, inputs, runs, graph_optimization)
    total = sum(times.values()) or 1.0
    return {op: ms / total for op, ms in times.items()}
