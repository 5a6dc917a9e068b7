"""Checkpoint -> ONNX, with everything a server needs to use the model in its metadata.

``mestream export CHECKPOINT --out model.onnx [--precision fp32|fp16]``

- Dynamic batch axis on every input and output; the other axes are fixed (T, size).
- ``fp16`` exports the model converted to half precision, so the graph itself is FP16
  (inputs, weights and outputs): TensorRT 11's strongly typed networks build FP16
  engines only from such a graph.
- Metadata (``metadata_props``, all strings, JSON where structured): ``mestream.arch``,
  ``mestream.kwargs``, ``mestream.labels``, ``mestream.inputs`` (name -> shape with
  ``"batch"`` first), ``mestream.outputs``, ``mestream.frames``, ``mestream.input_size``,
  ``mestream.normalisation``, ``mestream.preparation``, ``mestream.precision``,
  ``mestream.opset``, ``mestream.trained_on`` (says "synthetic" for models trained on
  generated data), ``mestream.torch``, ``mestream.intensity_trained`` (``true`` only when
  the loss fitted an intensity head), and where the checkpoint has them
  ``mestream.aus`` (the ``au_logits`` order), ``mestream.label_set`` and
  ``mestream.label_source`` (``aus``: the classify stage's label is the AU rules' class).

Example:
    >>> import tempfile, torch
    >>> from pathlib import Path
    >>> from train.models import MicroExpSTCNN
    >>> d = Path(tempfile.mkdtemp())
    >>> kw = {"frames": 18, "size": 32, "num_classes": 3}
    >>> torch.save({"arch": "stcnn", "kwargs": kw, "labels": ["a", "b", "c"],
    ...             "state_dict": MicroExpSTCNN(**kw).state_dict()}, d / "m.pt")
    >>> meta = export_onnx(d / "m.pt", d / "m.onnx")
    >>> meta["mestream.labels"], meta["mestream.inputs"]
    ('["a", "b", "c"]', '{"face": ["batch", 1, 18, 32, 32]}')
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import torch

from train.models.registry import ARCHITECTURES, build_model, input_shapes
from train.torch_files import load_torch_file

OPSET = 17


def load_checkpoint(path: str | Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The model of a mestream checkpoint (eval mode, CPU) and the checkpoint dict."""
    ckpt = load_torch_file(path)
    for key in ("arch", "kwargs", "state_dict"):
        if key not in ckpt:
            raise ValueError(f"{path}: not a mestream checkpoint (no {key!r})")
    model = build_model(ckpt["arch"], ckpt["kwargs"])
    model.load_state_dict(ckpt["state_dict"])
    return model.eval(), ckpt


def example_inputs(arch: str, kwargs: dict[str, Any], batch: int = 2,
                   dtype: torch.dtype = torch.float32, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random inputs of the right shapes (for tracing and parity checks)."""
    g = torch.Generator().manual_seed(seed)
    return {name: torch.randn((batch, *shape), generator=g).to(dtype)
            for name, shape in input_shapes(arch, kwargs).items()}


def onnx_bytes(model: torch.nn.Module, arch: str, kwargs: dict[str, Any],
               precision: str = "fp32", opset: int = OPSET) -> bytes:
    """The ONNX graph of ``model`` (dynamic batch), FP32 or FP16 throughout."""
    if precision not in ("fp32", "fp16"):
        raise ValueError(f"precision must be fp32 or fp16, got {precision!r}")
    dtype = torch.float16 if precision == "fp16" else torch.float32
    model = model.to(dtype).eval()
    inputs = example_inputs(arch, kwargs, dtype=dtype)
    outputs = list(ARCHITECTURES[arch].outputs)
    names = list(inputs)
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(model, tuple(inputs.values()), f, dynamo=False,
                          opset_version=opset, input_names=names, output_names=outputs,
                          dynamic_axes={n: {0: "batch"} for n in names + outputs})
    return f.getvalue()


def metadata_of(ckpt: dict[str, Any], precision: str, opset: int) -> dict[str, str]:
    """The ``mestream.*`` properties of an exported model."""
    arch, kwargs = ckpt["arch"], dict(ckpt["kwargs"])
    shapes = input_shapes(arch, kwargs)
    merged = {**ARCHITECTURES[arch].defaults, **kwargs}
    meta = {
        "mestream.arch": arch,
        "mestream.kwargs": json.dumps(kwargs),
        "mestream.labels": json.dumps(list(ckpt.get("labels", []))),
        "mestream.inputs": json.dumps({n: ["batch", *s] for n, s in shapes.items()}),
        "mestream.outputs": json.dumps(list(ARCHITECTURES[arch].outputs)),
        "mestream.frames": str(merged["frames"]),
        "mestream.input_size": str(merged["size"]),
        "mestream.normalisation": json.dumps(ckpt.get("normalisation", {})),
        "mestream.preparation": json.dumps(ckpt.get("preparation", {})),
        "mestream.precision": precision,
        "mestream.opset": str(opset),
        "mestream.trained_on": str(ckpt.get("trained_on", "unknown")),
        "mestream.torch": torch.__version__,
        # Only a head that training fitted may reach an event (classify reads this).
        "mestream.intensity_trained": "true" if ckpt.get("intensity_trained") else "false",
    }
    if ckpt.get("aus"):
        meta["mestream.aus"] = json.dumps(list(ckpt["aus"]))
    if ckpt.get("label_set"):
        meta["mestream.label_set"] = str(ckpt["label_set"])
    if ckpt.get("label_source"):
        meta["mestream.label_source"] = str(ckpt["label_source"])
    return meta


def export_onnx(checkpoint: str | Path, out: str | Path, precision: str = "fp32",
                opset: int = OPSET) -> dict[str, str]:
    """Write ``out`` from ``checkpoint``; returns the metadata written into it."""
    import onnx

    model, ckpt = load_checkpoint(checkpoint)
    arch, kwargs = ckpt["arch"], dict(ckpt["kwargs"])
    proto = onnx.load_from_string(onnx_bytes(model, arch, kwargs, precision, opset))
    meta = metadata_of(ckpt, precision, opset)
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "mestream"
    onnx.checker.check_model(proto)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(out))
    return meta


def export_torch_program(checkpoint: str | Path, out: str | Path) -> dict[str, str]:
    """Write a torch.export program (``.pt2``, dynamic batch, FP32) for the torch engine,
    with the same input names and metadata as the ONNX export; ``backend: auto`` picks
    it on a CUDA machine without TensorRT when it lies beside the ``.onnx``."""
    from engines.torch_program import export_program

    model, ckpt = load_checkpoint(checkpoint)
    arch, kwargs = ckpt["arch"], dict(ckpt["kwargs"])
    meta = metadata_of(ckpt, "fp32", OPSET)
    inputs = example_inputs(arch, kwargs, batch=2)
    export_program(model, tuple(inputs.values()), Path(out), input_names=list(inputs),
                   output_names=list(ARCHITECTURES[arch].outputs), metadata=meta)
    return meta
