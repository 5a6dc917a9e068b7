"""Throughput of an engine per batch size: the numbers behind BENCHMARKS.md's backend
table (``mestream engine bench``).

Each timing is one ``engine.infer`` call on random inputs, so it includes what the
pipeline pays too: the cast to the engine's dtype and, on GPUs, the copies to and from
the device. Warm-up calls come first (TensorRT's first enqueue after a shape change,
cuDNN's algorithm search and CUDA-graph capture are slow once).

Example:
    >>> import numpy as np
    >>> from engines.engine import InferenceEngine, TensorSpec
    >>> class Echo(InferenceEngine):
    ...     backend, precision, device, max_batch, metadata = "numpy", "fp32", "cpu", 4, {}
    ...     inputs = {"x": TensorSpec("x", "float32", (None, 2))}
    ...     outputs = {"x": TensorSpec("x", "float32", (None, 2))}
    ...     def infer(self, batch): return batch
    ...     def close(self): pass
    >>> rows = bench_engine(Echo(), [1, 4, 8], repeats=3)
    >>> [(r["batch"], r.get("skipped")) for r in rows]
    [(1, None), (4, None), (8, 'above the max batch 4')]
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from engines.engine import InferenceEngine

DEFAULT_BATCHES = (1, 2, 4, 8, 16, 32, 64)


def random_batch(engine: InferenceEngine, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """float32 inputs of batch ``n`` (the engine casts them, as it would in the pipeline)."""
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal(spec.with_batch(n), dtype=np.float32)
            for name, spec in engine.inputs.items()}


def bench_engine(engine: InferenceEngine, batch_sizes: Sequence[int] = DEFAULT_BATCHES,
                 repeats: int = 20, warmup: int = 3,
                 clock: Callable[[], float] = time.perf_counter) -> list[dict[str, Any]]:
    """One row per batch size: ``backend``, ``precision``, ``device``, ``batch``,
    ``repeats``, ``median_ms``, ``p90_ms``, ``min_ms``, ``clips_per_s`` (batch / median);
    sizes above ``engine.max_batch`` get a row with ``skipped`` instead of timings."""
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    rows = []
    for n in batch_sizes:
        row: dict[str, Any] = {"backend": engine.backend, "precision": engine.precision,
                               "device": engine.device, "batch": int(n)}
        if engine.max_batch is not None and n > engine.max_batch:
            rows.append({**row, "skipped": f"above the max batch {engine.max_batch}"})
            continue
        batch = random_batch(engine, n)
        for _ in range(warmup):
            engine.infer(batch)
        times = []
        for _ in range(repeats):
            start = clock()
            engine.infer(batch)
            times.append(clock() - start)
        median = statistics.median(times)
        p90 = sorted(times)[min(len(times) - 1, int(round(0.9 * (len(times) - 1))))]
        rows.append({**row, "repeats": repeats, "median_ms": round(median * 1e3, 3),
                     "p90_ms": round(p90 * 1e3, 3), "min_ms": round(min(times) * 1e3, 3),
                     "clips_per_s": round(n / median, 1) if median > 0 else float("inf")})
    return rows


def format_rows(rows: list[dict[str, Any]]) -> str:
    """A Markdown table of :func:`bench_engine`'s rows."""
    lines = ["| backend | precision | device | batch | ms / batch (median) | p90 ms | clips/s |",
             "|---|---|---|---:|---:|---:|---:|"]
    for r in rows:
        if "skipped" in r:
            lines.append(f"| {r['backend']} | {r['precision']} | {r['device']} | {r['batch']} "
                         f"| {r['skipped']} | | |")
        else:
            lines.append(f"| {r['backend']} | {r['precision']} | {r['device']} | {r['batch']} "
                         f"| {r['median_ms']:.2f} | {r['p90_ms']:.2f} | {r['clips_per_s']:.1f} |")
    return "\n".join(lines)
