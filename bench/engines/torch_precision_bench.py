"""FP16 against FP32 for a ``.pt2`` program on one torch device, with and without CUDA
graphs: clips/s per batch size on inputs already on the device, so the figure is the
device's compute, not the host's casts and copies (``engines.benchmark.bench_engine``
times those too, through ``engine.infer``).

torch is imported when :func:`precision_sweep` runs, never on import. On CPU it runs
the same code (synchronisation is a no-op, CUDA graphs are refused), which is how the
tests check it without a GPU.

Example:
    >>> import tempfile, torch
    >>> from engines.torch_program import export_program
    >>> path = tempfile.mkdtemp() + "/lin.pt2"
    >>> _ = export_program(torch.nn.Linear(8, 3), (torch.ones(2, 8),), path,
    ...                    input_names=["x"], output_names=["y"])
    >>> rows = precision_sweep(path, "cpu", [1, 4], repeats=2, cuda_graphs=(False,))
    >>> [(r["precision"], r["batch"]) for r in rows]
    [('fp32', 1), ('fp16', 1), ('fp32', 4), ('fp16', 4)]
    >>> sorted(speedups(rows))
    [(False, 1), (False, 4)]
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _load(path: Path, device: str, half: bool) -> tuple[Any, list[tuple[int, ...]]]:
    """The program's module on ``device`` (FP16 weights if ``half``) and its input
    shapes without the batch axis."""
    from engines.torch_engine import import_torch

    torch = import_torch()
    program = torch.export.load(str(path))
    if device != "cpu":
        from torch.export.passes import move_to_device_pass
        program = move_to_device_pass(program, device)
    shapes = [tuple(int(d) for d in n.meta["val"].shape[1:])
              for n in program.graph.nodes
              if n.op == "placeholder" and n.name in program.graph_signature.user_inputs]
    module = program.module().to(device)
    return (module.half() if half else module), shapes


def precision_sweep(path: str | Path, device: str, batches: Sequence[int], repeats: int = 10,
                    cuda_graphs: Sequence[bool] = (False, True),
                    warmup: int = 3) -> list[dict[str, Any]]:
    """Rows ``{precision, cuda_graphs, batch, median_ms, clips_per_s}``: FP32 and FP16
    measured one after the other at each batch size (same device, same run)."""
    from engines.torch_cuda_graphs import CapturedBatch
    from engines.torch_engine import import_torch

    torch = import_torch()
    cuda = device.startswith("cuda")
    if any(cuda_graphs) and not cuda:
        raise ValueError("CUDA graphs need a CUDA device")
    modules = {p: _load(Path(path), device, p == "fp16") for p in ("fp32", "fp16")}

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(device)

    rows = []
    for n in batches:
        for graphs in cuda_graphs:
            for precision, (module, shapes) in modules.items():
                dtype = torch.float16 if precision == "fp16" else torch.float32
                with torch.inference_mode():
                    if graphs:
                        captured = CapturedBatch(module, shapes, dtype, n, torch.device(device))
                        inputs = [torch.randn((n, *s), device=device).to(dtype)
                                  for s in shapes]
                        step = lambda c=captured, i=inputs: c.run(i)  # noqa: E731
                    else:
                        inputs = [torch.randn((n, *s), device=device).to(dtype)
                                  for s in shapes]
                        step = lambda m=module, i=inputs: m(*i)  # noqa: E731
                    for _ in range(warmup):
                        step()
                    sync()
                    times = []
                    for _ in range(repeats):
                        t = time.perf_counter()
                        step()
                        sync()
                        times.append(time.perf_counter() - t)
                median = statistics.median(times)
                rows.append({"precision": precision, "cuda_graphs": graphs, "batch": n,
                             "median_ms": median * 1e3, "clips_per_s": n / median})
        if cuda:
            torch.cuda.empty_cache()
    return rows


def speedups(rows: list[dict[str, Any]]) -> dict[tuple[bool, int], float]:
    """(cuda_graphs, batch) -> FP16 clips/s over FP32 clips/s, from one sweep's rows."""
    by = {(r["precision"], r["cuda_graphs"], r["batch"]): r["clips_per_s"] for r in rows}
    return {(g, n): by[("fp16", g, n)] / by[("fp32", g, n)]
            for (p, g, n) in by if p == "fp32" and ("fp16", g, n) in by}
