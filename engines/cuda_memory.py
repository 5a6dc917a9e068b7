"""Page-locked host buffers, device buffers, a stream and async copies for the TensorRT
engine, from whichever CUDA binding is installed.

Two implementations: :class:`~engines.pycuda_memory.PyCudaMemory` (pycuda, which builds
from source against the CUDA toolkit) and
:class:`~engines.cuda_python_memory.CudaPythonMemory` (cuda-python's
``cuda.bindings.runtime``, which ships wheels). :func:`open_cuda_memory` takes pycuda
when it imports, else cuda-python. Both use the device's primary context, which is the
one TensorRT (a CUDA runtime user) works in. Do all GPU work of one engine on one
thread (TensorRT and pycuda contexts are per thread).

Example:
    >>> CUDA_BINDINGS
    ('pycuda', 'cuda-python')
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from engines.errors import BackendUnavailable

CUDA_BINDINGS = ("pycuda", "cuda-python")

INSTALL_HINT = ("no CUDA Python binding: pip install cuda-python (wheels), or pycuda "
                "(builds from source; needs the CUDA toolkit and a compiler)")


class CudaMemory(Protocol):
    """The few CUDA calls the TensorRT engine needs. Pointers are plain ints."""

    name: str

    def pinned_empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A page-locked host array (async copies need page-locked memory)."""
        ...

    def device_alloc(self, nbytes: int) -> int:
        """``nbytes`` of device memory; returns its address."""
        ...

    def create_stream(self) -> Any:
        ...

    def stream_handle(self, stream: Any) -> int:
        """The ``cudaStream_t`` as an int, for ``execute_async_v3``."""
        ...

    def copy_to_device(self, device_ptr: int, host: np.ndarray, stream: Any) -> None:
        """Async copy of the whole (contiguous) ``host`` array to ``device_ptr``."""
        ...

    def copy_to_host(self, host: np.ndarray, device_ptr: int, stream: Any) -> None:
        """Async copy of ``host.nbytes`` from ``device_ptr`` into ``host``."""
        ...

    def synchronize(self, stream: Any) -> None:
        ...

    def release(self) -> None:
        """Free everything allocated through this object."""
        ...


def open_cuda_memory(binding: str | None = None, device: int = 0) -> CudaMemory:
    """A :class:`CudaMemory` for ``device`` from ``binding`` ("pycuda" or "cuda-python"),
    or the first of them that imports."""
    if binding not in (None, *CUDA_BINDINGS):
        raise ValueError(f"binding must be one of {CUDA_BINDINGS}, got {binding!r}")
    tried = []
    for name in (binding,) if binding else CUDA_BINDINGS:
        try:
            if name == "pycuda":
                from engines.pycuda_memory import PyCudaMemory
                return PyCudaMemory(device)
            from engines.cuda_python_memory import CudaPythonMemory
            return CudaPythonMemory(device)
        except ImportError as exc:
            tried.append(f"{name}: {exc}")
    raise BackendUnavailable(f"{INSTALL_HINT} ({'; '.join(tried)})")
