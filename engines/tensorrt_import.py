"""TensorRT is optional: it is imported only here, only when an engine is built or run.

Tests replace :func:`import_tensorrt` (``monkeypatch.setattr(tensorrt_import,
"import_tensorrt", ...)``) to drive the build logic with a fake module, so callers
always look it up through this module rather than importing the name.

Example:
    >>> tensorrt_major(type("trt", (), {"__version__": "10.13.3.9"}))
    10
"""

from __future__ import annotations

import importlib.util
from typing import Any

from engines.errors import BackendUnavailable

INSTALL_HINT = (
    "tensorrt is not installed: pip install tensorrt-cu12 (it fetches the libraries from "
    "NVIDIA's index, https://pypi.nvidia.com; use tensorrt-cu13 with CUDA 13), plus "
    "cuda-python (pip install cuda-python) or pycuda for the GPU buffers.")
RUN_INSTEAD = " Without TensorRT, use --backend onnxruntime (CPU) or torch."
"""What a command that runs an engine can do instead (``engine info`` / ``bench``)."""
BUILD_INSTEAD = (" `engine build` makes TensorRT plans only; without TensorRT, serve the "
                 "ONNX file itself (classify: backend onnxruntime or auto) or its .pt2 "
                 "with the torch engine.")


def tensorrt_installed() -> bool:
    """Whether ``import tensorrt`` would find a module (without importing it)."""
    return importlib.util.find_spec("tensorrt") is not None


def import_tensorrt(instead: str = RUN_INSTEAD) -> Any:
    """The ``tensorrt`` module, or :class:`BackendUnavailable` with the install hint and
    what the caller's user can do ``instead``."""
    try:
        import tensorrt
    except ImportError as exc:
        raise BackendUnavailable(INSTALL_HINT + instead) from exc
    return tensorrt


def tensorrt_major(trt: Any) -> int:
    """10 for "10.13.3.9": the FP16 path and the network flags depend on it."""
    return int(str(trt.__version__).split(".")[0])
