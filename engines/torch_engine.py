"""torch behind :class:`~engines.engine.InferenceEngine`: a torch.export program (``.pt2``,
written by :func:`engines.torch_program.export_program`) on CPU or CUDA, FP32 or FP16,
optionally replayed as CUDA graphs. No model class is needed, only torch.

torch is imported when an engine is made, never when this module is imported (the
runtime runs without torch).

Example:
    >>> import tempfile, numpy as np, torch
    >>> from engines.torch_program import export_program
    >>> path = tempfile.mkdtemp() + "/double.pt2"
    >>> class Double(torch.nn.Module):
    ...     def forward(self, x):
    ...         return x * 2
    >>> _ = export_program(Double(), (torch.ones(2, 3),), path, input_names=["x"],
    ...                    output_names=["y"])
    >>> engine = TorchEngine(path)
    >>> engine.infer({"x": np.ones((5, 3))})["y"].shape, engine.describe()
    ((5, 3), 'torch fp32 on cpu: x float32[N,3] -> y float32[N,3] (max batch: 4096)')
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engines.batch import prepare_batch
from engines.engine import InferenceEngine, TensorSpec
from engines.errors import BackendUnavailable
from engines.torch_program import PROGRAM_INFO, ProgramInfo

DEFAULT_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


def import_torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise BackendUnavailable("torch is not installed: pip install 'mestream[train]' "
                                 "(or torch==2.13.0)") from exc
    return torch


def _input_specs(program: Any, info: ProgramInfo, dtype_name: str) -> dict[str, TensorSpec]:
    placeholders = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    user_inputs = list(program.graph_signature.user_inputs)
    if len(user_inputs) != len(info.inputs):
        raise ValueError(f"the program takes {len(user_inputs)} inputs but its "
                         f"{PROGRAM_INFO} names {info.inputs}")
    specs = {}
    for graph_name, name in zip(user_inputs, info.inputs, strict=True):
        shape = placeholders[graph_name].meta["val"].shape
        # Symbolic sizes (SymInt, the exported batch Dim) are dynamic; ints are fixed.
        dims = tuple(d if type(d) is int else None for d in shape)
        specs[name] = TensorSpec(name, dtype_name, dims)
    return specs


class TorchEngine(InferenceEngine):
    """A ``.pt2`` program in torch.

    Args:
        path: the ``.pt2`` file.
        device: "cpu" or "cuda" (or "cuda:1").
        precision: "fp32", or "fp16" (weights and inputs in half precision; meant for
            CUDA, works on CPU but slowly).
        cuda_graphs: replay CUDA graphs captured per batch bucket (CUDA only).
        batch_buckets: the fixed batch sizes for CUDA graphs; a batch is padded up to
            the smallest bucket that holds it.
    """

    backend = "torch"

    def __init__(self, path: str | Path, device: str = "cpu", precision: str = "fp32",
                 cuda_graphs: bool = False, batch_buckets: Sequence[int] = DEFAULT_BUCKETS):
        torch = import_torch()
        if precision not in ("fp32", "fp16"):
            raise ValueError(f"precision must be fp32 or fp16, got {precision!r}")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendUnavailable(f"device {device!r}: torch {torch.__version__} sees no "
                                     "CUDA GPU (a CPU-only torch, or no driver)")
        if cuda_graphs and not device.startswith("cuda"):
            raise ValueError("cuda_graphs needs device='cuda'")
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such .pt2 file")
        self._torch = torch
        extra = {PROGRAM_INFO: ""}
        program = torch.export.load(str(self.path), extra_files=extra)
        if not extra[PROGRAM_INFO]:
            raise ValueError(f"{self.path}: no {PROGRAM_INFO} inside; write it with "
                             "engines.torch_program.export_program")
        info = ProgramInfo.from_json(extra[PROGRAM_INFO])
        if device != "cpu":
            # Rewrites device literals baked into the graph (e.g. a torch.zeros for an
            # initial hidden state traced on CPU), which .to(device) would not touch.
            from torch.export.passes import move_to_device_pass
            program = move_to_device_pass(program, device)
        self._dtype = torch.float16 if precision == "fp16" else torch.float32
        module = program.module().to(device)
        if precision == "fp16":
            module = module.half()
        self._module = module
        self._device = torch.device(device)
        self.precision = precision
        self.device = device
        self.metadata = dict(info.metadata)
        self.inputs = _input_specs(program, info, "float16" if precision == "fp16"
                                   else "float32")
        self.outputs = {n: TensorSpec(n, "float32", (None,)) for n in info.outputs}
        self.max_batch = info.max_batch
        self._graphs = None
        if cuda_graphs:
            from engines.torch_cuda_graphs import CudaGraphRunner
            shapes = [s.shape[1:] for s in self.inputs.values()]
            self._graphs = CudaGraphRunner(module, shapes, self._dtype, self._device,
                                           batch_buckets)
        self._resolve_output_shapes()

    def _resolve_output_shapes(self) -> None:
        """Output specs from one run at batch 1 (the program does not keep them in a
        form as simple as the inputs'); float32 because ``infer`` returns float32."""
        dummy = {n: np.zeros(s.with_batch(1), dtype=s.numpy_dtype)
                 for n, s in self.inputs.items()}
        out = self._run(prepare_batch(self.inputs, dummy).arrays)
        self.outputs = {n: TensorSpec(n, "float32", (None, *o.shape[1:]))
                        for n, o in out.items()}

    def _run(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self._torch
        with torch.inference_mode():
            tensors = [torch.from_numpy(arrays[n]).to(self._device, non_blocking=True)
                       for n in self.inputs]
            if self._graphs is not None:
                results = self._graphs(tensors)
            else:
                results = list(self._module(*tensors))
            # Outputs are small (logits, scores), so casting on the device is free;
            # .cpu() also waits for the GPU to finish.
            return {n: r.float().cpu().numpy()
                    for n, r in zip(self.outputs, results, strict=True)}

    def infer(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        prepared = prepare_batch(self.inputs, batch, self.max_batch)
        return self._run(prepared.arrays)

    def close(self) -> None:
        self._module = None
        self._graphs = None
        if self.device.startswith("cuda"):
            self._torch.cuda.empty_cache()
