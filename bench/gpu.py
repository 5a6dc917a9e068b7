"""STCNN (T = 96) on a CUDA GPU in torch: FP16 against FP32 clips/s at batch 1..256,
CUDA graphs on and off, the device named; target FP16 >= 3x FP32.

Where no GPU is found (``nvidia-smi``, via :mod:`engines.device`) the table gets one row
saying so and the command that measures it on a GPU machine::

    python -m bench.gpu          # these rows only
    mestream bench                             # everything, GPU rows included

"FP32" is torch's default: cuDNN may run FP32 convolutions on TF32 tensor cores
(``torch.backends.cudnn.allow_tf32``, on by default), and the row says which was in
force. Inputs are random and already on the device (:mod:`bench.engines.torch_precision_bench`),
so the rows measure the GPU, not the host's casts and copies.
"""

from __future__ import annotations

import sys
from pathlib import Path

from engines.device import first_gpu

Row = tuple[str, str, str, str]
TARGET_RATIO = 3.0
COMMAND = "python -m bench.gpu (or mestream bench) on a machine with a GPU"


def precision_rows(program: Path, device: str, device_name: str, batches: list[int],
                   repeats: int, cuda_graphs: tuple[bool, ...]) -> list[Row]:
    """Rows of one FP32/FP16 sweep of ``program`` on ``device``, with the target row."""
    from bench.engines.torch_precision_bench import precision_sweep, speedups

    rows: list[Row] = []
    sweep = precision_sweep(program, device, batches, repeats, cuda_graphs)
    ratios = speedups(sweep)
    by = {(r["precision"], r["cuda_graphs"], r["batch"]): r for r in sweep}
    for graphs in cuda_graphs:
        for n in batches:
            fp32, fp16 = by[("fp32", graphs, n)], by[("fp16", graphs, n)]
            rows.append((f"GPU STCNN T=96 on {device_name}, torch, CUDA graphs "
                         f"{'on' if graphs else 'off'}, batch {n}",
                         f"FP16 {fp16['clips_per_s']:.0f} clips/s ({fp16['median_ms']:.2f} ms), "
                         f"FP32 {fp32['clips_per_s']:.0f} clips/s ({fp32['median_ms']:.2f} ms): "
                         f"x{ratios[(graphs, n)]:.2f}", f"median of {repeats}",
                         f"FP16 >= {TARGET_RATIO:g}x FP32"))
    (graphs, n), best = max(ratios.items(), key=lambda kv: kv[1])
    rows.append((f"TARGET GPU STCNN T=96 on {device_name}: FP16 over FP32",
                 f"x{best:.2f} (batch {n}, CUDA graphs {'on' if graphs else 'off'}): "
                 f"{'met' if best >= TARGET_RATIO else 'missed'}", "same run",
                 f">= {TARGET_RATIO:g}x"))
    return rows


def gpu_rows(quick: bool) -> list[Row]:
    """The GPU rows, or one row saying why there are none."""
    gpu = first_gpu()
    if gpu is None:
        return [("GPU STCNN T=96, torch CUDA FP16 vs FP32, batch 1..256, CUDA graphs on/off",
                 f"not measured: no GPU (command to run it: {COMMAND})", "-",
                 f"FP16 >= {TARGET_RATIO:g}x FP32")]
    from bench.classifier import CACHE, export_graphs
    from engines.torch_engine import import_torch

    torch = import_torch()
    if not torch.cuda.is_available():
        return [("GPU STCNN T=96, torch CUDA", f"not measured: {gpu.name} found but torch "
                 f"{torch.__version__} sees no CUDA (a CPU-only torch?)", "-",
                 f"FP16 >= {TARGET_RATIO:g}x FP32")]
    programs, why = export_graphs(["stcnn_t96"], CACHE, ".pt2")
    if "stcnn_t96" not in programs:
        return [("GPU STCNN T=96, torch CUDA", f"not measured: no .pt2 ({why})", "-",
                 f"FP16 >= {TARGET_RATIO:g}x FP32")]
    name = (f"{torch.cuda.get_device_name(0)} (TF32 convs "
            f"{'on' if torch.backends.cudnn.allow_tf32 else 'off'})")
    batches = [1, 16, 256] if quick else [1, 2, 4, 8, 16, 32, 64, 128, 256]
    return precision_rows(programs["stcnn_t96"], "cuda", name, batches,
                          repeats=5 if quick else 20, cuda_graphs=(False, True))


def main() -> int:
    quick = "--quick" in sys.argv[1:]
    for row in gpu_rows(quick):
        print(" | ".join(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
