"""The learned spotter's engine call: the bundled per-tick step (the ensemble and the
lip-corner detector, pipeline/weights/spotter_learned.onnx) opened as the spot stage opens
it (:class:`pipeline.spotting.learned.StepRunner`: ONNX Runtime, one thread), timed for 1,
8 and 32 stream-ticks in one call, with what that costs per face at the model's tick rate.
"""

from __future__ import annotations

Row = tuple[str, str, str, str]
BATCHES = (1, 8, 32)


def spotting_rows(quick: bool) -> list[Row]:
    """One row per batch of stream-ticks."""
    from engines.benchmark import bench_engine
    from pipeline.spotting.learned import StepRunner

    runner = StepRunner(threads=1)
    try:
        repeats = 10 if quick else 50
        ticks_per_s = 1000.0 / runner.info.tick_ms
        size_mb = runner.path.stat().st_size / 1e6
        rows: list[Row] = []
        for r in bench_engine(runner.engine, BATCHES, repeats=repeats):
            per_tick = r["median_ms"] / r["batch"]
            rows.append((f"learned spotter engine call (bundled, {size_mb:.1f} MB ONNX), "
                         f"{r['batch']} stream-tick(s), ONNX Runtime, one thread",
                         f"{r['median_ms']:.2f} ms = {per_tick * ticks_per_s / 10:.2f} % of a "
                         f"core per face at {ticks_per_s:.0f} ticks/s",
                         f"median of {repeats}", "-"))
        return rows
    finally:
        runner.engine.close()
