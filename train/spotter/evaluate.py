"""Score a spotter on cached aligned scenes (``train/spotter/data.py`` writes them: the
production aligner's faces of synthetic scenes with their micro / macro ground truth, or
of plain GRID clips), pooled as MEGC does. No torch.

Run (the learned spotter's test figures; options as a spot stage's ``options:``)::

    .venv/bin/python -m train.spotter.evaluate data/spotter/test --glob 's3*_30.npz'
    .venv/bin/python -m train.spotter.evaluate data/spotter/grid --option threshold=0.6

Faces are cached at the learned spotter's input side (64 px), without landmarks, so this
fits spotters that resize the face themselves (``learned``); the flow spotter's figures
come from :func:`pipeline.spotting.offline.spot_synthetic` on the full 128 px faces.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.spotting.evaluate import SpottingScore, evaluate_spotting, pooled, timeline_png
from pipeline.spotting.face_frame import FaceFrame
from pipeline.spotting.interval import MICRO, SpottedInterval
from pipeline.spotting.offline import SpotRun, SpotterFactory, run_spotters


@dataclass
class CachedResult:
    name: str
    score: SpottingScore
    video_ms: float
    run: SpotRun
    micro_gt: list[tuple[int, int]]


def cached_faces(path: Path) -> Iterator[tuple[int, FaceFrame | None]]:
    """(track, FaceFrame) of a cached scene in pts order; (track, None) when a track ends."""
    d = np.load(path)
    tracks, faces = d["tracks"], d["faces"]     # each d[...] decompresses: read once
    last = {int(t): i for i, t in enumerate(tracks)}
    for i, (t, pts) in enumerate(zip(tracks, d["pts"], strict=True)):
        yield int(t), FaceFrame(int(pts), faces[i], None)
        if last[int(t)] == i:
            yield int(t), None


def evaluate_cached(paths: list[Path], factory: SpotterFactory) -> list[CachedResult]:
    """Run ``factory``'s spotter over each cached scene; score its micro intervals."""
    out = []
    for p in paths:
        d = np.load(p)
        run = run_spotters(cached_faces(p), factory)
        gt = [(int(a), int(b)) for a, b in d["micro"]]
        micro = [iv for ivs in run.intervals.values() for iv in ivs if iv.kind == MICRO]
        ms = float(d["video_ms"])
        out.append(CachedResult(p.stem, evaluate_spotting(gt, micro, ms), ms, run, gt))
    return out


def make_factory(spotter: str, options: dict[str, Any]) -> SpotterFactory:
    """A factory of the named spotter; the learned one shares one engine across scenes."""
    if spotter == "learned":
        from pipeline.spotting.learned import LearnedSpotter, shared_runner

        runner, opts = shared_runner(options)
        return lambda: LearnedSpotter(runner=runner, **opts)
    from pipeline.stages.spot.stage import make_spotter

    return lambda: make_spotter(spotter, 300.0, dict(options))


def option_value(text: str) -> Any:
    """A ``--option`` value: JSON when it parses (numbers, lists, booleans), else the text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+", type=Path, help="folders of cached scenes (.npz)")
    ap.add_argument("--glob", default="*.npz", help="which scenes (file name pattern)")
    ap.add_argument("--spotter", default="learned")
    ap.add_argument("--option", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--per-scene", action="store_true", help="a row per scene")
    ap.add_argument("--png", type=Path, help="write a timeline PNG per scene into this folder")
    a = ap.parse_args(argv)
    options = {k: option_value(v) for k, v in (o.split("=", 1) for o in a.option)}
    paths = sorted(p for d in a.dirs for p in d.glob("*.npz")
                   if fnmatch.fnmatch(p.name, a.glob) and not p.name.endswith(".tmp.npz"))
    if not paths:
        print(f"error: no cached scenes match {a.glob} in {a.dirs}", file=sys.stderr)
        return 2
    results = evaluate_cached(paths, make_factory(a.spotter, options))
    for r in results:
        if a.per_scene:
            s = r.score
            print(f"{r.name}: TP {s.tp} FP {s.fp} FN {s.fn} F1 {s.f1:.2f}")
        if a.png:
            ivs: list[SpottedInterval] = [iv for v in r.run.intervals.values() for iv in v]
            scores = [x for v in r.run.scores.values() for x in v]
            timeline_png(scores, r.micro_gt, ivs, a.png / f"{r.name}.png",
                         title=f"{r.name}: {a.spotter} score, GT micro (green), spotted "
                         f"(red micro, grey macro)")
    s = pooled([(r.score, r.video_ms) for r in results])
    minutes = sum(r.video_ms for r in results) / 60_000
    print(f"{a.spotter} {options} on {len(results)} scenes ({minutes:.1f} min): F1 {s.f1:.3f} "
          f"P {s.precision:.3f} R {s.recall:.3f} TP/FP/FN {s.tp}/{s.fp}/{s.fn} "
          f"FA/min {s.false_alarms_per_minute:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
