"""ONNX Runtime behind :class:`~engines.engine.InferenceEngine`: the CPU path every machine
has, and the reference the other backends are compared with.

Example (a one-node graph built here; real models come from ``mestream export``):
    >>> import tempfile, numpy as np, onnx
    >>> from onnx import TensorProto, helper
    >>> x = helper.make_tensor_value_info("x", TensorProto.FLOAT16, ["batch", 3])
    >>> y = helper.make_tensor_value_info("y", TensorProto.FLOAT16, ["batch", 3])
    >>> g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    >>> m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    >>> helper.set_model_props(m, {"mestream.labels": '["a", "b", "c"]'})
    >>> path = tempfile.mkdtemp() + "/relu.onnx"; onnx.save(m, path)
    >>> engine = OnnxRuntimeEngine(path)
    >>> out = engine.infer({"x": np.array([[-1.0, 0.5, 2.0]])})["y"]
    >>> out.dtype, out.tolist(), engine.precision, engine.metadata["mestream.labels"]
    (dtype('float32'), [[0.0, 0.5, 2.0]], 'fp16', '["a", "b", "c"]')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from engines.batch import as_float32, prepare_batch
from engines.engine import InferenceEngine, TensorSpec
from engines.errors import BackendUnavailable, EngineLoadError

# ONNX Runtime reports element types as strings such as "tensor(float16)".
_ORT_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16",
               "tensor(double)": "float64", "tensor(int64)": "int64",
               "tensor(int32)": "int32", "tensor(uint8)": "uint8", "tensor(bool)": "bool"}

GRAPH_OPTIMIZATION = {"disabled": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
                      "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}


def _spec(arg: Any) -> TensorSpec:
    if arg.type not in _ORT_DTYPES:
        raise ValueError(f"tensor {arg.name!r} has unsupported type {arg.type}")
    # Named or unknown dims (the exporter's "batch") are dynamic; numbers are fixed.
    shape = tuple(d if isinstance(d, int) and d > 0 else None for d in arg.shape)
    return TensorSpec(arg.name, _ORT_DTYPES[arg.type], shape)


def graph_precision(specs: dict[str, TensorSpec], metadata: dict[str, str]) -> str:
    """"fp16" or "fp32": the exporter's word when present, else the inputs' float dtype."""
    if metadata.get("mestream.precision") in ("fp16", "fp32"):
        return metadata["mestream.precision"]
    return "fp16" if any(s.dtype == "float16" for s in specs.values()) else "fp32"


class OnnxRuntimeEngine(InferenceEngine):
    """An ONNX file in an ``onnxruntime.InferenceSession`` (CPU unless ``providers`` says).

    Args:
        path: the ``.onnx`` file.
        intra_op_threads / inter_op_threads: ONNX Runtime's thread pools (``None``: its
            default, one thread per core).
        providers: e.g. ``["CUDAExecutionProvider", "CPUExecutionProvider"]``; default CPU.
        graph_optimization: "disabled", "basic", "extended" or "all" (``None``: ONNX
            Runtime's default, "all"; nodes run sequentially by default too);
            "all" adds the NCHWc layout transform on CPU.
        allow_spinning: whether idle intra-op threads busy-wait for the next operator
            (``None``: ONNX Runtime's default, yes). Off pays for graphs of many short
            operators on a CPU shared with other processes, where spinning threads burn
            the cores the others need.
    """

    backend = "onnxruntime"

    def __init__(self, path: str | Path, intra_op_threads: int | None = None,
                 inter_op_threads: int | None = None, providers: list[str] | None = None,
                 graph_optimization: str | None = None, allow_spinning: bool | None = None):
        try:
            import onnxruntime as ort
        except ImportError as exc:   # a runtime dependency, but say so plainly if absent
            raise BackendUnavailable("onnxruntime is not installed: pip install onnxruntime"
                                     ) from exc
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such ONNX file")
        options = ort.SessionOptions()
        if intra_op_threads is not None:
            options.intra_op_num_threads = intra_op_threads
        if inter_op_threads is not None:
            options.inter_op_num_threads = inter_op_threads
        if graph_optimization is not None:
            if graph_optimization not in GRAPH_OPTIMIZATION:
                raise ValueError(f"graph_optimization must be one of "
                                 f"{sorted(GRAPH_OPTIMIZATION)}, got {graph_optimization!r}")
            options.graph_optimization_level = getattr(
                ort.GraphOptimizationLevel, GRAPH_OPTIMIZATION[graph_optimization])
        if allow_spinning is not None:
            options.add_session_config_entry("session.intra_op.allow_spinning",
                                             "1" if allow_spinning else "0")
        try:
            self._session = ort.InferenceSession(
                str(self.path), sess_options=options,
                providers=providers or ["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001  (ORT's errors share no base class)
            # A file that is not a model, or a graph ORT cannot run: a rebuild or
            # another file is the cure, never a retry.
            raise EngineLoadError(f"{self.path}: ONNX Runtime cannot load it: "
                                  f"{str(exc).splitlines()[0][:300]}") from None
        self.inputs = {a.name: _spec(a) for a in self._session.get_inputs()}
        self.outputs = {a.name: _spec(a) for a in self._session.get_outputs()}
        self.metadata = dict(self._session.get_modelmeta().custom_metadata_map)
        self.precision = graph_precision(self.inputs, self.metadata)
        active = self._session.get_providers()
        self.device = "cuda" if active and active[0] == "CUDAExecutionProvider" else "cpu"
        self.max_batch = None

    def infer(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._session is None:
            raise RuntimeError("this ONNX Runtime engine is closed")
        prepared = prepare_batch(self.inputs, batch, self.max_batch)
        names = list(self.outputs)
        values = self._session.run(names, prepared.arrays)
        return as_float32(dict(zip(names, values, strict=True)))

    def close(self) -> None:
        # InferenceSession has no close(); dropping the last reference frees it.
        self._session = None
