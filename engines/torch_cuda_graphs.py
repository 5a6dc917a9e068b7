"""CUDA graphs for a torch module, one per fixed batch size ("bucket").

A CUDA graph replays a captured sequence of kernels with almost no launch overhead, which
matters for small 3D-CNN batches; but it only replays fixed shapes, so a batch is padded
up to the smallest bucket that holds it and the result sliced back. Batches larger than
the largest bucket run eagerly.

Example (the bucket choice; capture itself needs a GPU):
    >>> bucket_for(3, (1, 2, 4, 8)), bucket_for(8, (1, 2, 4, 8)), bucket_for(9, (1, 2, 4, 8))
    (4, 8, None)
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any

WARMUP_RUNS = 3     # before capture: cuDNN picks its algorithms, lazy init happens


def bucket_for(n: int, buckets: Sequence[int]) -> int | None:
    """The smallest bucket >= ``n`` (``buckets`` sorted ascending), or ``None``."""
    i = bisect.bisect_left(buckets, n)
    return buckets[i] if i < len(buckets) else None


class CapturedBatch:
    """One captured graph: static input tensors of the bucket's size and the outputs
    the graph writes. Every call must run under ``torch.inference_mode()``."""

    def __init__(self, module: Any, input_shapes: list[tuple[int, ...]], dtype: Any,
                 size: int, device: Any):
        import torch

        self.size = size
        self.inputs = [torch.zeros((size, *s), dtype=dtype, device=device)
                       for s in input_shapes]
        side = torch.cuda.Stream(device=device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(WARMUP_RUNS):
                module(*self.inputs)
        torch.cuda.current_stream(device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.outputs = module(*self.inputs)

    def run(self, tensors: list[Any]) -> list[Any]:
        """Copy ``tensors`` (batch <= size) in, replay, return the sliced outputs (views
        of the static buffers: copy them before the next run)."""
        n = tensors[0].shape[0]
        for static, t in zip(self.inputs, tensors, strict=True):
            static[:n].copy_(t)
            if n < self.size:
                static[n:].zero_()   # padding rows: zeros, so nothing stale is computed
        self.graph.replay()
        return [o[:n] for o in self.outputs]


class CudaGraphRunner:
    """Captures a graph per bucket on first use and runs batches through them."""

    def __init__(self, module: Any, input_shapes: list[tuple[int, ...]], dtype: Any,
                 device: Any, buckets: Sequence[int]):
        self.module, self.input_shapes, self.dtype, self.device = (module, input_shapes,
                                                                    dtype, device)
        self.buckets = tuple(sorted(set(buckets)))
        self.captured: dict[int, CapturedBatch] = {}

    def __call__(self, tensors: list[Any]) -> list[Any]:
        bucket = bucket_for(tensors[0].shape[0], self.buckets)
        if bucket is None:
            return list(self.module(*tensors))
        if bucket not in self.captured:
            self.captured[bucket] = CapturedBatch(self.module, self.input_shapes,
                                                  self.dtype, bucket, self.device)
        return self.captured[bucket].run(tensors)
