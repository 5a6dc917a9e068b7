"""TensorRT behind :class:`~engines.engine.InferenceEngine`: a serialised plan (built by
:func:`engines.build.build_engine`) run through the named-tensor API.

Buffers are allocated once, for the profile's max batch: a page-locked host array and a
device buffer per input and output. ``infer`` sets each input's shape for the batch,
copies the inputs in on the engine's stream, ``execute_async_v3``, copies the outputs
back and waits. TensorRT and a CUDA binding (pycuda or cuda-python, see
:mod:`engines.cuda_memory`) are imported when an engine is made, never at import.

Unverified on hardware when written (no GPU nor TensorRT here); the buffer plumbing is
tested against a fake TensorRT and fake CUDA memory (tests/engines/test_tensorrt_engine.py)
and the real thing by ``pytest -m gpu tests/engines`` on a GPU machine.

Example:
    >>> from engines import tensorrt_import
    >>> try:
    ...     TensorRTEngine("model.plan")
    ... except Exception as exc:
    ...     print(type(exc).__name__, tensorrt_import.tensorrt_installed())
    BackendUnavailable False
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from engines import tensorrt_import
from engines.batch import prepare_batch
from engines.cuda_memory import CudaMemory, open_cuda_memory
from engines.engine import InferenceEngine, TensorSpec
from engines.errors import EngineLoadError

MANIFEST_NAME = "manifest.json"     # written by engines.cache beside cached plans


def _manifest_precision(plan: Path) -> str | None:
    manifest = plan.parent / MANIFEST_NAME
    try:
        return json.loads(manifest.read_text())["key"]["precision"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


class TensorRTEngine(InferenceEngine):
    """A TensorRT plan on one GPU.

    Args:
        plan_path: the ``.plan``/``.engine`` file (only load plans you built: a plan
            contains compiled code).
        memory: the CUDA buffer provider; default :func:`open_cuda_memory` (pycuda, else
            cuda-python).
        device_index: the CUDA device.
        precision: "fp16"/"fp32" for reports; default: the cache manifest's, else the
            input dtype (an FP32-IO engine built with the FP16 flag reads "fp32" then).
        metadata: the ONNX ``mestream.*`` properties (a plan does not carry them).
    """

    backend = "tensorrt"

    def __init__(self, plan_path: str | Path, memory: CudaMemory | None = None,
                 device_index: int = 0, precision: str | None = None,
                 metadata: dict[str, str] | None = None):
        trt = tensorrt_import.import_tensorrt()
        self.path = Path(plan_path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no such TensorRT plan")
        self._trt = trt
        self._context = None
        # The CUDA binding first: it selects the device (and, for pycuda, makes the
        # primary context current) before TensorRT touches the GPU.
        owns_memory = memory is None
        self._memory = memory if memory is not None else open_cuda_memory(device=device_index)
        try:
            self._load(device_index, precision, metadata)
        except BaseException:
            if owns_memory:
                self._memory.release()
            raise

    def _load(self, device_index: int, precision: str | None,
              metadata: dict[str, str] | None) -> None:
        trt = self._trt
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self._engine = self._runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self._engine is None:
            raise EngineLoadError(
                f"{self.path}: TensorRT {trt.__version__} cannot deserialise this plan "
                "(built by another TensorRT version or for another GPU?); rebuild it")
        self._context = self._engine.create_execution_context()
        self._stream = self._memory.create_stream()
        self.device = f"cuda:{device_index}"
        self.metadata = dict(metadata or {})

        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        mode = trt.TensorIOMode
        input_names = [n for n in names if self._engine.get_tensor_mode(n) == mode.INPUT]
        output_names = [n for n in names if self._engine.get_tensor_mode(n) == mode.OUTPUT]
        self.inputs = {n: self._spec(n) for n in input_names}
        max_shapes = {n: tuple(self._engine.get_tensor_profile_shape(n, 0)[2])
                      for n in input_names}
        self.max_batch = min(s[0] for s in max_shapes.values()) if max_shapes else None
        # Output sizes at the max batch: set every input to its max shape and ask.
        for n, shape in max_shapes.items():
            self._context.set_input_shape(n, shape)
        out_max = {n: tuple(self._context.get_tensor_shape(n)) for n in output_names}
        for n, shape in out_max.items():
            if any(d < 0 for d in shape):
                raise EngineLoadError(f"output {n!r} has a data-dependent shape {shape}; "
                                      "not supported")
        self.outputs = {n: self._spec(n) for n in output_names}

        self._host: dict[str, np.ndarray] = {}
        self._device: dict[str, int] = {}
        for n, shape in {**max_shapes, **out_max}.items():
            dtype = np.dtype(trt.nptype(self._engine.get_tensor_dtype(n)))
            self._host[n] = self._memory.pinned_empty(shape, dtype)
            self._device[n] = self._memory.device_alloc(self._host[n].nbytes)
            # The addresses never change (buffers are sized for the max batch), so they
            # are bound once rather than per batch.
            self._context.set_tensor_address(n, self._device[n])
        in_dtypes = {s.dtype for s in self.inputs.values()}
        self.precision = precision or _manifest_precision(self.path) or (
            "fp16" if in_dtypes == {"float16"} else "fp32")

    def _spec(self, name: str) -> TensorSpec:
        dtype = np.dtype(self._trt.nptype(self._engine.get_tensor_dtype(name))).name
        shape = tuple(d if d >= 0 else None for d in self._engine.get_tensor_shape(name))
        return TensorSpec(name, dtype, shape)

    def infer(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._context is None:
            raise RuntimeError("this TensorRT engine is closed")
        prepared = prepare_batch(self.inputs, batch, self.max_batch)
        mem, stream = self._memory, self._stream
        for name, arr in prepared.arrays.items():
            self._context.set_input_shape(name, arr.shape)
            staged = self._host[name].reshape(-1)[:arr.size]
            np.copyto(staged, arr.reshape(-1))
            mem.copy_to_device(self._device[name], staged, stream)
        if not self._context.execute_async_v3(mem.stream_handle(stream)):
            raise RuntimeError(f"{self.path}: TensorRT execute_async_v3 failed (see log)")
        views = {}
        for name in self.outputs:
            shape = tuple(self._context.get_tensor_shape(name))
            view = self._host[name].reshape(-1)[:math.prod(shape)]
            mem.copy_to_host(view, self._device[name], stream)
            views[name] = (view, shape)
        mem.synchronize(stream)
        # astype copies: the page-locked buffers are reused by the next batch.
        return {n: v.reshape(s).astype(np.float32) for n, (v, s) in views.items()}

    def close(self) -> None:
        if self._context is None:
            return
        # The context and engine go before the memory: they may reference it.
        self._context = None
        self._engine = None
        self._runtime = None
        self._memory.release()

    def __getstate__(self) -> Any:
        raise TypeError("a TensorRT engine cannot be pickled; open it in each process")
