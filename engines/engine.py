"""The one interface every inference backend (TensorRT, torch, ONNX Runtime) offers.

Callers hand an engine a dict of numpy arrays (one per model input, batch first) and get
a dict of float32 numpy arrays back, whatever the engine computes in internally, so the
pipeline never cares which backend is running.

Example (any object with these attributes is an engine; the concrete ones subclass the
protocol to inherit :meth:`InferenceEngine.describe`):
    >>> import numpy as np
    >>> class Doubler(InferenceEngine):
    ...     backend, precision, device, max_batch, metadata = "numpy", "fp32", "cpu", None, {}
    ...     inputs = {"x": TensorSpec("x", "float32", (None, 3))}
    ...     outputs = {"y": TensorSpec("y", "float32", (None, 3))}
    ...     def infer(self, batch):
    ...         return {"y": (batch["x"] * 2).astype(np.float32)}
    ...     def close(self):
    ...         pass
    >>> e = Doubler()
    >>> e.infer({"x": np.ones((2, 3))})["y"].tolist()
    [[2.0, 2.0, 2.0], [2.0, 2.0, 2.0]]
    >>> e.describe()
    'numpy fp32 on cpu: x float32[N,3] -> y float32[N,3] (max batch: any)'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class TensorSpec:
    """One input or output tensor: ``None`` marks a dynamic axis (the batch, axis 0).

    Example:
        >>> s = TensorSpec("face", "float16", (None, 1, 18, 32, 32))
        >>> s.with_batch(4), str(s)
        ((4, 1, 18, 32, 32), 'face float16[N,1,18,32,32]')
        >>> str(TensorSpec("state_out", "float32", (None, None)))
        'state_out float32[N,?]'
    """

    name: str
    dtype: str                          # a numpy dtype name: "float32", "float16", ...
    shape: tuple[int | None, ...]

    def with_batch(self, n: int) -> tuple[int, ...]:
        """The concrete shape for a batch of ``n`` (every dynamic axis is the batch)."""
        return tuple(n if d is None else d for d in self.shape)

    @property
    def numpy_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    def __str__(self) -> str:
        # N is the batch (axis 0); a dynamic axis elsewhere (an exporter that could not
        # infer it, e.g. a recurrent state's width) is shown as ?, not as the batch.
        dims = ",".join(("N" if i == 0 else "?") if d is None else str(d)
                        for i, d in enumerate(self.shape))
        return f"{self.name} {self.dtype}[{dims}]"


@runtime_checkable
class InferenceEngine(Protocol):
    """A loaded model on one backend.

    Attributes:
        backend: "tensorrt", "torch" or "onnxruntime".
        precision: "fp32" or "fp16": what the engine computes in.
        device: "cpu", "cuda" or "cuda:0 (NVIDIA H100 ...)", for logs.
        inputs / outputs: name -> :class:`TensorSpec` (the engine's own dtypes).
        max_batch: the largest batch ``infer`` accepts; ``None`` for no limit.
        metadata: the ONNX ``mestream.*`` properties (labels, precision, ...) when the
            artifact carries them, else empty.
    """

    backend: str
    precision: str
    device: str
    inputs: dict[str, TensorSpec]
    outputs: dict[str, TensorSpec]
    max_batch: int | None
    metadata: dict[str, str]

    def infer(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one batch; inputs of any float dtype (cast as needed), outputs float32."""
        ...

    def close(self) -> None:
        """Free what the engine holds (GPU memory, sessions); the engine is unusable after."""
        ...

    def describe(self) -> str:
        """One line for logs: backend, precision, device, IO and max batch."""
        ins = ", ".join(str(s) for s in self.inputs.values())
        outs = ", ".join(str(s) for s in self.outputs.values())
        cap = "any" if self.max_batch is None else str(self.max_batch)
        return (f"{self.backend} {self.precision} on {self.device}: {ins} -> {outs} "
                f"(max batch: {cap})")

    def __enter__(self) -> InferenceEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
