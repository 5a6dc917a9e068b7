"""What an ONNX file's graph declares: input shapes (``None`` for dynamic axes), the float
types of its inputs and weights (is it an FP16 graph?) and its metadata.

Read with ``onnx`` when installed (weights are not loaded), else with ONNX Runtime,
which the runtime always has but which only sees the inputs, not the weights.

Example:
    >>> import tempfile, onnx
    >>> from onnx import TensorProto, helper
    >>> x = helper.make_tensor_value_info("face", TensorProto.FLOAT16, ["batch", 1, 4])
    >>> y = helper.make_tensor_value_info("y", TensorProto.FLOAT16, ["batch", 1, 4])
    >>> g = helper.make_graph([helper.make_node("Relu", ["face"], ["y"])], "g", [x], [y])
    >>> m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    >>> path = tempfile.mkdtemp() + "/m.onnx"; onnx.save(m, path)
    >>> graph = read_onnx_graph(path)
    >>> graph.inputs, graph.float_precision
    ({'face': (None, 1, 4)}, 'fp16')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class OnnxGraph:
    """Inputs (name -> shape, ``None`` where dynamic), float dtypes seen, metadata."""

    inputs: dict[str, tuple[int | None, ...]]
    float_types: frozenset[str]          # subset of {"float32", "float16", ...}
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def float_precision(self) -> str:
        """"fp16" (only FP16 floats), "fp32" (only FP32) or "mixed" (e.g. AutoCast's
        output with FP32 IO kept around FP16 layers)."""
        if self.float_types == {"float16"}:
            return "fp16"
        if "float16" in self.float_types:
            return "mixed"
        return "fp32"


def _read_with_onnx(path: Path) -> OnnxGraph:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    names = {
        onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.FLOAT16: "float16",
        onnx.TensorProto.DOUBLE: "float64", onnx.TensorProto.BFLOAT16: "bfloat16",
    }
    weights = {t.name for t in model.graph.initializer}
    inputs: dict[str, tuple[int | None, ...]] = {}
    floats: set[str] = set()
    for value in model.graph.input:
        if value.name in weights:   # old exporters list weights as inputs too
            continue
        tensor = value.type.tensor_type
        inputs[value.name] = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0
                                   else None for d in tensor.shape.dim)
        if tensor.elem_type in names:
            floats.add(names[tensor.elem_type])
    floats.update(names[t.data_type] for t in model.graph.initializer if t.data_type in names)
    metadata = {p.key: p.value for p in model.metadata_props}
    return OnnxGraph(inputs, frozenset(floats), metadata)


def _read_with_onnxruntime(path: Path) -> OnnxGraph:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    types = {"tensor(float)": "float32", "tensor(float16)": "float16",
             "tensor(double)": "float64", "tensor(bfloat16)": "bfloat16"}
    inputs = {a.name: tuple(d if isinstance(d, int) and d > 0 else None for d in a.shape)
              for a in session.get_inputs()}
    floats = {types[a.type] for a in session.get_inputs() if a.type in types}
    metadata = dict(session.get_modelmeta().custom_metadata_map)
    # The weights are invisible here; the exporter's own word fills the gap.
    if metadata.get("mestream.precision") == "fp16":
        floats.add("float16")
    return OnnxGraph(inputs, frozenset(floats), metadata)


def read_onnx_graph(path: str | Path) -> OnnxGraph:
    """The :class:`OnnxGraph` of the ONNX file at ``path``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such ONNX file")
    try:
        import onnx  # noqa: F401
    except ImportError:
        return _read_with_onnxruntime(path)
    return _read_with_onnx(path)
