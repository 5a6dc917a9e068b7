"""Choose the learned spotter's post-processing (threshold, hysteresis, merge gap, minimum
length) on the VALIDATION scenes only, with the exported model run once per scene through
the runtime (:class:`~pipeline.spotting.learned.StepRunner`) and its per-tick logits
replayed for every setting (the same :class:`~pipeline.spotting.learned.LearnedSpotter`
code turns them into intervals).

Run::

    .venv/bin/python -m train.spotter.select runs/spotter_learned/spotter_learned.onnx \\
        data/spotter/val
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.spotting.evaluate import evaluate_spotting, pooled
from pipeline.spotting.interval import MICRO
from pipeline.spotting.learned import LearnedSpotter, StepRunner
from pipeline.spotting.offline import run_spotters
from train.spotter.evaluate import cached_faces


class ReplayRunner:
    """Gives a spotter the logits a real runner gave it before, in the same order."""

    def __init__(self, info: Any, logits: list[float]):
        self.info = info
        self.logits = logits
        self._k = 0
        self._pending: list[tuple[Any, int]] = []

    @property
    def pending(self) -> int:
        return len(self._pending)

    def submit(self, spotter: Any, tick_ns: int, window: np.ndarray) -> None:
        self._pending.append((spotter, tick_ns))

    def run(self) -> None:
        for spotter, tick_ns in self._pending:
            spotter.scored(tick_ns, self.logits[self._k], spotter.state)
            self._k += 1
        self._pending = []


class RecordingRunner(StepRunner):
    """A real runner that remembers every logit it hands out, in order."""

    def __init__(self, model: Path):
        super().__init__(model)
        self.logits: list[float] = []

    def run(self) -> None:
        while self._pending:
            job = self._pending.pop(0)
            faces = job[2][None].astype(np.float32) * (1.0 / 255.0)
            out = self.engine.infer({"faces": faces, "state": job[0].state[None]})
            self.logits.append(float(out["logit"][0]))
            job[0].scored(job[1], float(out["logit"][0]), out["state_out"][0])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="choose the learned spotter's thresholds on "
                                 "the validation scenes")
    ap.add_argument("model", type=Path)
    ap.add_argument("dirs", nargs="+", type=Path)
    a = ap.parse_args(argv)
    scenes = []
    for p in sorted(q for d in a.dirs for q in d.glob("*.npz")):
        rec = RecordingRunner(a.model)
        faces = list(cached_faces(p))
        run_spotters(faces, lambda rec=rec: LearnedSpotter(runner=rec))
        d = np.load(p)
        scenes.append((faces, rec.logits, [(int(x), int(y)) for x, y in d["micro"]],
                       float(d["video_ms"])))
        info = rec.info
        print(f"scored {p.name}", flush=True)
    rows = []
    # Gaps up to 400 ms: a macro-expression the model scores in fragments merges into one
    # interval longer than max_ms (labelled macro, so not a micro false alarm).
    grid = itertools.product((0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95), (0.6, 1.0),
                             (0.0, 80.0, 200.0, 400.0), (80.0,))
    for threshold, low_ratio, gap_ms, min_ms in grid:
        opts = dict(threshold=threshold, low=threshold * low_ratio, gap_ms=gap_ms,
                    min_ms=min_ms)
        scores = []
        for faces, logits, gt, ms in scenes:
            rep = ReplayRunner(info, logits)
            run = run_spotters(faces, lambda rep=rep, opts=opts: LearnedSpotter(
                runner=rep, **opts))
            micro = [iv for v in run.intervals.values() for iv in v if iv.kind == MICRO]
            scores.append((evaluate_spotting(gt, micro, ms), ms))
        s = pooled(scores)
        rows.append((s.f1, -s.false_alarms_per_minute, opts, s))
        print(f"F1 {s.f1:.3f} {s.tp}/{s.fp}/{s.fn} {opts}", flush=True)
    rows.sort(key=lambda r: (r[0], r[1]), reverse=True)
    for f1, _, opts, s in rows[:15]:
        print(f"F1 {f1:.3f} P {s.precision:.2f} R {s.recall:.2f} {s.tp}/{s.fp}/{s.fn} "
              f"FA/min {s.false_alarms_per_minute:.2f} {opts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
