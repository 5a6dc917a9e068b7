""":class:`~engines.cuda_memory.CudaMemory` on cuda-python (``cuda.bindings.runtime``).

Every call returns ``(cudaError_t, value...)``; :meth:`CudaPythonMemory._check` turns a
failure into an exception naming the call. The 13.x wheel has only
``cuda.bindings.{driver,runtime}`` (the older ``from cuda import cudart`` is gone).

Example (without cuda-python the constructor raises ImportError):
    >>> CudaPythonMemory.name
    'cuda-python'
"""

from __future__ import annotations

import ctypes
import math
from typing import Any

import numpy as np


class CudaPythonMemory:
    name = "cuda-python"

    def __init__(self, device: int = 0):
        from cuda.bindings import runtime

        self._rt = runtime
        self._check(runtime.cudaSetDevice(device), "cudaSetDevice")
        self._device: list[int] = []
        self._host: list[int] = []
        self._streams: list[Any] = []

    def _check(self, result: Any, call: str) -> Any:
        err, *values = result if isinstance(result, tuple) else (result,)
        if err != self._rt.cudaError_t.cudaSuccess:
            raise RuntimeError(f"{call} failed: {err}")
        return values[0] if len(values) == 1 else values

    def pinned_empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        count = math.prod(shape)
        nbytes = max(count * dtype.itemsize, 1)
        ptr = int(self._check(self._rt.cudaMallocHost(nbytes), "cudaMallocHost"))
        self._host.append(ptr)
        raw = (ctypes.c_byte * nbytes).from_address(ptr)
        return np.frombuffer(raw, dtype=dtype, count=count).reshape(shape)

    def device_alloc(self, nbytes: int) -> int:
        ptr = int(self._check(self._rt.cudaMalloc(max(int(nbytes), 1)), "cudaMalloc"))
        self._device.append(ptr)
        return ptr

    def create_stream(self) -> Any:
        stream = self._check(self._rt.cudaStreamCreate(), "cudaStreamCreate")
        self._streams.append(stream)
        return stream

    def stream_handle(self, stream: Any) -> int:
        return int(stream)

    def copy_to_device(self, device_ptr: int, host: np.ndarray, stream: Any) -> None:
        kind = self._rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._check(self._rt.cudaMemcpyAsync(device_ptr, host.ctypes.data, host.nbytes, kind,
                                             stream), "cudaMemcpyAsync (to device)")

    def copy_to_host(self, host: np.ndarray, device_ptr: int, stream: Any) -> None:
        kind = self._rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._check(self._rt.cudaMemcpyAsync(host.ctypes.data, device_ptr, host.nbytes, kind,
                                             stream), "cudaMemcpyAsync (to host)")

    def synchronize(self, stream: Any) -> None:
        self._check(self._rt.cudaStreamSynchronize(stream), "cudaStreamSynchronize")

    def release(self) -> None:
        for stream in self._streams:
            self._rt.cudaStreamDestroy(stream)
        for ptr in self._device:
            self._rt.cudaFree(ptr)
        for ptr in self._host:
            self._rt.cudaFreeHost(ptr)
        self._streams.clear()
        self._device.clear()
        self._host.clear()
