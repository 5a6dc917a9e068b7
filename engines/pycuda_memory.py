""":class:`~engines.cuda_memory.CudaMemory` on pycuda (``pycuda.driver``).

pycuda is imported when an object is made. Its ``autoinit`` module is avoided on
purpose: it creates a context of its own, while TensorRT works in the device's primary
context, so this retains and pushes the primary context instead (popped on release).

Example (without pycuda the constructor raises ImportError, which
:func:`engines.cuda_memory.open_cuda_memory` turns into a fallback):
    >>> PyCudaMemory.name
    'pycuda'
"""

from __future__ import annotations

from typing import Any

import numpy as np


class PyCudaMemory:
    name = "pycuda"

    def __init__(self, device: int = 0):
        import pycuda.driver as cuda

        self._cuda = cuda
        cuda.init()
        self._context = cuda.Device(device).retain_primary_context()
        self._context.push()
        self._device: list[Any] = []     # DeviceAllocation objects
        self._host: list[np.ndarray] = []

    def pinned_empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        arr = self._cuda.pagelocked_empty(shape, dtype)
        self._host.append(arr)
        return arr

    def device_alloc(self, nbytes: int) -> int:
        alloc = self._cuda.mem_alloc(max(int(nbytes), 1))
        self._device.append(alloc)
        return int(alloc)

    def create_stream(self) -> Any:
        return self._cuda.Stream()

    def stream_handle(self, stream: Any) -> int:
        return int(stream.handle)

    def copy_to_device(self, device_ptr: int, host: np.ndarray, stream: Any) -> None:
        self._cuda.memcpy_htod_async(device_ptr, host, stream)

    def copy_to_host(self, host: np.ndarray, device_ptr: int, stream: Any) -> None:
        self._cuda.memcpy_dtoh_async(host, device_ptr, stream)

    def synchronize(self, stream: Any) -> None:
        stream.synchronize()

    def release(self) -> None:
        for alloc in self._device:
            alloc.free()
        for arr in self._host:
            base = arr.base      # the HostAllocation behind a pagelocked_empty array
            if hasattr(base, "free"):
                base.free()
        self._device.clear()
        self._host.clear()
        if self._context is not None:
            self._context.pop()
            self._context = None
