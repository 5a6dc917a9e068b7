"""Checking a batch against an engine's inputs before any backend sees it, so every
backend fails the same way, with a message that names the tensor and the shapes.

Example:
    >>> import numpy as np
    >>> specs = {"face": TensorSpec("face", "float16", (None, 1, 4, 8, 8))}
    >>> b = prepare_batch(specs, {"face": np.zeros((3, 1, 4, 8, 8))})
    >>> b.size, b.arrays["face"].dtype
    (3, dtype('float16'))
    >>> prepare_batch(specs, {"face": np.zeros((3, 4, 8, 8))})
    Traceback (most recent call last):
    ...
    engines.errors.EngineInputError: input 'face': expected shape (N, 1, 4, 8, 8), got (3, 4, 8, 8)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engines.engine import TensorSpec
from engines.errors import EngineInputError


@dataclass(frozen=True)
class PreparedBatch:
    """The inputs cast to the engine's dtypes, C-contiguous, and the batch size."""

    arrays: dict[str, np.ndarray]
    size: int


def _shape_text(spec: TensorSpec) -> str:
    return "(" + ", ".join("N" if d is None else str(d) for d in spec.shape) + ")"


def prepare_batch(specs: dict[str, TensorSpec], batch: dict[str, np.ndarray],
                  max_batch: int | None = None) -> PreparedBatch:
    """Validate names, ranks, fixed dims and one batch size; cast to each spec's dtype."""
    missing = sorted(set(specs) - set(batch))
    unknown = sorted(set(batch) - set(specs))
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing {missing}")
        if unknown:
            parts.append(f"unknown {unknown}")
        raise EngineInputError(f"input names: {'; '.join(parts)}; the engine takes "
                               f"{sorted(specs)}")
    arrays: dict[str, np.ndarray] = {}
    sizes: dict[str, int] = {}
    for name, spec in specs.items():
        arr = np.asarray(batch[name])
        fixed_ok = len(arr.shape) == len(spec.shape) and all(
            d is None or d == a for d, a in zip(spec.shape, arr.shape, strict=True))
        if not fixed_ok:
            raise EngineInputError(f"input {name!r}: expected shape {_shape_text(spec)}, "
                                   f"got {tuple(arr.shape)}")
        sizes[name] = int(arr.shape[0]) if arr.ndim else 1
        # ascontiguousarray: the GPU copies and torch.from_numpy want dense memory.
        arrays[name] = np.ascontiguousarray(arr, dtype=spec.numpy_dtype)
    if len(set(sizes.values())) > 1:
        raise EngineInputError(f"inputs disagree on the batch size: {sizes}")
    size = next(iter(sizes.values()), 0)
    if size < 1:
        raise EngineInputError("empty batch: every input needs at least one clip")
    if max_batch is not None and size > max_batch:
        raise EngineInputError(f"batch of {size} is larger than the engine's max batch "
                               f"{max_batch}; split it (or rebuild with a larger --max-batch)")
    return PreparedBatch(arrays, size)


def as_float32(outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Outputs as float32 whatever the engine computed in (FP16 engines included)."""
    return {k: np.asarray(v, dtype=np.float32) for k, v in outputs.items()}
