"""Inference backends (TensorRT FP16, torch, ONNX Runtime) behind one interface.

    engine = open_engine("model.onnx")          # TensorRT > torch CUDA > ONNX Runtime
    logits = engine.infer({"face": clips})["logits"]   # numpy in, float32 numpy out

Files: ``engine`` (the :class:`InferenceEngine` protocol, :class:`TensorSpec`),
``onnxruntime_engine``, ``torch_engine`` (+ ``torch_program``: writing ``.pt2``,
``torch_cuda_graphs``), ``tensorrt_engine`` (+ ``cuda_memory`` with its pycuda and
cuda-python implementations), ``build`` (ONNX -> plan), ``cache`` (plans keyed by model,
TensorRT, GPU, precision and profile), ``device`` (GPU discovery without torch),
``auto`` (:func:`open_engine`), ``benchmark``, ``commands`` (``mestream engine ...``).

This package never imports ``pipeline`` or ``train`` (dependencies point one way: train
-> pipeline -> engines), and never imports torch, TensorRT, pycuda or cuda-python at
import time: each backend imports its library when an engine is opened, so the runtime
installs and runs without them (tests/engines/test_engine_layers.py).
"""

from engines.auto import open_engine
from engines.engine import InferenceEngine, TensorSpec
from engines.errors import BackendUnavailable, EngineInputError, EngineLoadError

__all__ = ["BackendUnavailable", "EngineInputError", "EngineLoadError", "InferenceEngine",
           "TensorSpec", "open_engine"]
