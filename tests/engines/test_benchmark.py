"""bench_engine's rows, timed with a fake clock so the numbers are exact."""

from __future__ import annotations

import numpy as np

from engines.benchmark import bench_engine, format_rows, random_batch
from engines.engine import InferenceEngine, TensorSpec


class CountingEngine(InferenceEngine):
    backend, precision, device, metadata = "fake", "fp16", "cuda:0", {}

    def __init__(self, max_batch: int | None = 16):
        self.max_batch = max_batch
        self.inputs = {"face": TensorSpec("face", "float16", (None, 1, 2, 2))}
        self.outputs = {"logits": TensorSpec("logits", "float32", (None, 3))}
        self.seen: list[int] = []

    def infer(self, batch):
        assert batch["face"].dtype == np.float32      # the engine is left to cast
        self.seen.append(len(batch["face"]))
        return {"logits": np.zeros((len(batch["face"]), 3), np.float32)}

    def close(self) -> None:
        pass


class StepClock:
    """Each infer takes 2 ms + 1 ms per clip (start/stop pairs of calls)."""

    def __init__(self, engine: CountingEngine):
        self.engine, self.t, self.calls = engine, 0.0, 0

    def __call__(self) -> float:
        self.calls += 1
        if self.calls % 2 == 0:
            self.t += 0.002 + 0.001 * self.engine.seen[-1]
        return self.t


def test_rows_per_batch_size() -> None:
    engine = CountingEngine(max_batch=16)
    rows = bench_engine(engine, [1, 4, 16, 64], repeats=5, warmup=2,
                        clock=StepClock(engine))
    assert [r["batch"] for r in rows] == [1, 4, 16, 64]
    assert engine.seen.count(4) == 7                      # 2 warm-up + 5 timed
    r4 = rows[1]
    assert r4["median_ms"] == 6.0 and r4["p90_ms"] == 6.0 and r4["min_ms"] == 6.0
    assert r4["clips_per_s"] == round(4 / 0.006, 1)
    assert (r4["backend"], r4["precision"], r4["device"]) == ("fake", "fp16", "cuda:0")
    assert rows[3] == {"backend": "fake", "precision": "fp16", "device": "cuda:0",
                       "batch": 64, "skipped": "above the max batch 16"}
    table = format_rows(rows)
    assert "| fake | fp16 | cuda:0 | 4 | 6.00 | 6.00 | 666.7 |" in table
    assert "above the max batch 16" in table


def test_random_batch_shapes() -> None:
    batch = random_batch(CountingEngine(), 3)
    assert batch["face"].shape == (3, 1, 2, 2) and batch["face"].dtype == np.float32
