"""The machine a benchmark ran on, and its FP32 peak: the roofline the classifier rows
are read against.

The peak is the best of two large square FP32 GEMMs, numpy's (its BLAS) and ONNX
Runtime's ``MatMul`` (MLAS, the kernels ORT's Conv uses), each the median of a few runs
on all cores: what this CPU really sustains on the easiest dense work, not the
datasheet's clock x FMA width.

Example:
    >>> peak = gemm_peak(size=128, repeats=2)
    >>> sorted(peak), peak["gflops"] == max(peak["numpy_gflops"], peak["ort_gflops"])
    (['gflops', 'numpy_gflops', 'ort_gflops', 'size'], True)
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np


def describe_machine() -> str:
    """CPU model, core count, Python and kernel, in one line."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores ({cpu_vector_flags()}), Python "
            f"{platform.python_version()}, {platform.system()} {platform.release()}")


def cpu_vector_flags() -> str:
    """The SIMD features that decide the kernels (e.g. "avx2 fma, no avx512/vnni")."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "flags unknown"
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    have = [f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_tile")
            if f in flags]
    missing = "" if {"avx512_vnni", "avx_vnni"} & flags else ", no VNNI"
    return " ".join(have) + missing if have else "no AVX2"


def _median_s(fn, repeats: int) -> float:
    fn()                                   # warm-up: thread pools, page faults
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def gemm_peak(size: int = 2048, repeats: int = 5) -> dict[str, float]:
    """GFLOP/s of a ``size`` x ``size`` FP32 GEMM with numpy and with ONNX Runtime;
    ``gflops`` is the better of the two."""
    import onnxruntime as ort
    from onnxruntime import InferenceSession

    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), np.float32)
    b = rng.standard_normal((size, size), np.float32)
    flop = 2.0 * size ** 3
    numpy_s = _median_s(lambda: a @ b, repeats)
    session = InferenceSession(_MATMUL_ONNX, providers=["CPUExecutionProvider"],
                               sess_options=ort.SessionOptions())
    ort_s = _median_s(lambda: session.run(None, {"a": a, "b": b}), repeats)
    numpy_g, ort_g = flop / numpy_s / 1e9, flop / ort_s / 1e9
    return {"size": size, "numpy_gflops": numpy_g, "ort_gflops": ort_g,
            "gflops": max(numpy_g, ort_g)}


# ``c = MatMul(a, b)``, opset 17, dynamic shapes: onnx.helper's serialisation, kept as
# bytes so the peak needs only ONNX Runtime (the runtime has no ``onnx`` package).
_MATMUL_ONNX = (
    b'\x08\x08:^\n\x11\n\x01a\n\x01b\x12\x01c"\x06MatMul\x12\x04gemmZ\x15\n\x01a'
    b'\x12\x10\n\x0e\x08\x01\x12\n\n\x03\x12\x01m\n\x03\x12\x01kZ\x15\n\x01b\x12\x10'
    b'\n\x0e\x08\x01\x12\n\n\x03\x12\x01k\n\x03\x12\x01nb\x15\n\x01c\x12\x10\n\x0e'
    b'\x08\x01\x12\n\n\x03\x12\x01m\n\x03\x12\x01nB\x04\n\x00\x10\x11'
)
