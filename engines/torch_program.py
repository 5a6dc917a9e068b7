"""A model as a torch.export program (``.pt2``): the graph and weights, no model class.

The torch backend loads these, so a server needs neither ``train/`` nor the model code,
only torch. The input and output names (the same as the ONNX export's: ``face``,
``eyes``/``mouth``, ``frames``; ``logits``) and any metadata ride along in the archive
as ``mestream.json``.

Example:
    >>> import tempfile, torch
    >>> path = tempfile.mkdtemp() + "/double.pt2"
    >>> class Double(torch.nn.Module):
    ...     def forward(self, x):
    ...         return x * 2
    >>> info = export_program(Double(), (torch.ones(2, 3),), path, input_names=["x"],
    ...                       output_names=["y"], metadata={"mestream.labels": "[]"})
    >>> info.inputs, info.outputs, read_program_info(path).metadata
    (['x'], ['y'], {'mestream.labels': '[]'})
"""

from __future__ import annotations

import inspect
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PROGRAM_INFO = "mestream.json"     # the extra file inside the .pt2 archive


@dataclass(frozen=True)
class ProgramInfo:
    """What a ``.pt2`` says about itself besides the graph."""

    inputs: list[str]
    outputs: list[str]
    max_batch: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ProgramInfo:
        raw = json.loads(text)
        return cls(list(raw["inputs"]), list(raw["outputs"]), raw.get("max_batch"),
                   dict(raw.get("metadata", {})))


def _tuple_outputs(model: Any) -> Any:
    """``model`` with its outputs as a plain tuple: torch.export cannot serialise a
    namedtuple output (the time-contrast net's) unless its type is registered."""
    import torch

    class TupleOutputs(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module):
            super().__init__()
            self.inner = inner

        def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
            out = self.inner(*args)
            if isinstance(out, torch.Tensor):
                return (out,)
            if isinstance(out, dict):
                return tuple(out.values())
            return tuple(out)

    return TupleOutputs(model)


def export_program(model: Any, example_inputs: tuple[Any, ...], path: str | Path,
                   dynamic_batch: bool = True, input_names: list[str] | None = None,
                   output_names: list[str] | None = None, max_batch: int = 4096,
                   metadata: dict[str, str] | None = None) -> ProgramInfo:
    """Write ``model`` (eval mode, on the examples' device) to ``path`` with torch.export.

    Args:
        model: a ``torch.nn.Module``; its forward takes the inputs positionally.
        example_inputs: one tensor per input, batch first.
        dynamic_batch: axis 0 of every input is ``Dim("batch")`` (1..max_batch).
        input_names: names for ``infer``'s dict; default: the forward's parameter names.
            Pass the ONNX names (``ARCHS[arch].inputs``) so both backends take one dict.
        output_names: default ``output0``, ``output1``, ...
        metadata: strings to keep (e.g. the ONNX ``mestream.*`` properties).
    """
    import torch
    from torch.export import Dim

    model = model.eval()
    examples = tuple(example_inputs)
    if input_names is None:
        params = list(inspect.signature(model.forward).parameters)
        input_names = params[:len(examples)]
    if len(input_names) != len(examples):
        raise ValueError(f"{len(examples)} example inputs but input_names={input_names}")
    if dynamic_batch and examples and examples[0].shape[0] == 1:
        # torch.export specialises a size-1 axis to the constant 1; trace with 2.
        examples = tuple(torch.cat([t, t]) for t in examples)
    dynamic_shapes = None
    if dynamic_batch:
        batch = Dim("batch", min=1, max=max_batch)
        # One entry for the wrapper's *args, holding one spec per input tensor.
        dynamic_shapes = (tuple({0: batch} for _ in examples),)
    wrapped = _tuple_outputs(model)
    with torch.no_grad():
        n_out = len(wrapped(*examples))
        program = torch.export.export(wrapped, examples, dynamic_shapes=dynamic_shapes)
    names = list(output_names) if output_names is not None else [
        f"output{i}" for i in range(n_out)]
    if len(names) != n_out:
        raise ValueError(f"the model returns {n_out} outputs but output_names={names}")
    info = ProgramInfo(list(input_names), names, max_batch if dynamic_batch else
                       int(examples[0].shape[0]), dict(metadata or {}))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.export.save(program, str(path), extra_files={PROGRAM_INFO: info.to_json()})
    return info


def read_program_info(path: str | Path) -> ProgramInfo:
    """The :class:`ProgramInfo` of a ``.pt2`` written by :func:`export_program`."""
    import zipfile

    # A .pt2 is a zip archive; reading the one small entry avoids loading the graph.
    with zipfile.ZipFile(path) as archive:
        entries = [n for n in archive.namelist() if n.endswith(f"extra/{PROGRAM_INFO}")
                   or n.endswith(f"/{PROGRAM_INFO}")]
        if not entries:
            raise ValueError(f"{path}: no {PROGRAM_INFO} inside; write it with "
                             "engines.torch_program.export_program")
        return ProgramInfo.from_json(archive.read(entries[0]).decode())
