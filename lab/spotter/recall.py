"""Which micro-expressions a spotter finds: recall by action units, by face (a still face or
a talking GRID speaker) and by apex intensity, on cached scenes (SYNTHETIC data only).

A cached scene (:mod:`train.spotter.data`, :mod:`train.spotter.canonical`) keeps only the
GT intervals; its action units come from planning the scene again from its job (the same
seed gives the same events: planning renders nothing and costs ~6 s a scene for the
MediaPipe-meshed base faces, once per process). The replanned intervals are checked
against the cached ones, so a changed planner fails loudly instead of mislabelling.
Matching is the scorer's one-to-one rule (:func:`pipeline.spotting.evaluate.match_spotting`).

Run (validation only while choosing; a test set once, after freezing)::

    .venv/bin/python -m lab.spotter.recall data/spotter/val \\
        --option model=pipeline/weights/spotter_learned.onnx
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from pipeline.spotting.evaluate import match_spotting
from pipeline.spotting.interval import MICRO
from train.spotter.evaluate import evaluate_cached, make_factory, option_value
from train.spotter.scenes import planned_micro, scene_of

INTENSITY_BINS = (1.0, 1.5, 2.0, 2.5, 3.01)
"""Apex displacement bins, px on a 128 px aligned face (micro events span 1-3 px)."""


@dataclass(frozen=True, slots=True)
class PlannedMicro:
    """One GT micro-expression of a cached scene, with what made it."""

    scene: str
    aus: str
    talking: bool
    intensity_px: float
    found: bool


def micro_recall(paths: list[Path], options: dict) -> list[PlannedMicro]:
    """Run the learned spotter (``options`` as ``learned_eval --option``) over the scenes
    and label each GT micro-expression found or missed."""
    out = []
    for r, path in zip(evaluate_cached(paths, make_factory("learned", options)), paths,
                       strict=True):
        events, talking = planned_micro(scene_of(path), path)
        pred = [iv for ivs in r.run.intervals.values() for iv in ivs if iv.kind == MICRO]
        found = match_spotting(r.micro_gt, pred)
        out += [PlannedMicro(r.name, "+".join(e.aus), talking, e.intensity_px, g in found)
                for g, e in enumerate(events)]
    return out


def recall_table(rows: list[PlannedMicro]) -> str:
    """Found / total by action units (still vs talking face), then by intensity."""
    by_au: dict[str, list[list[int]]] = defaultdict(lambda: [[0, 0], [0, 0]])
    for m in rows:
        cell = by_au[m.aus][int(m.talking)]
        cell[0] += m.found
        cell[1] += 1
    lines = [f"{'action units':<16} {'still face':>11} {'talking face':>13}"]

    def frac(c: list[int]) -> str:
        return f"{c[0]}/{c[1]}" if c[1] else "-"

    for aus in sorted(by_au, key=lambda a: -sum(c[1] for c in by_au[a])):
        still, talk = by_au[aus]
        lines.append(f"{aus:<16} {frac(still):>11} {frac(talk):>13}")
    lines.append("")
    lines.append(f"{'apex px (128)':<16} {'still face':>11} {'talking face':>13}")
    for lo, hi in zip(INTENSITY_BINS, INTENSITY_BINS[1:], strict=False):
        cells = [[0, 0], [0, 0]]
        for m in rows:
            if lo <= m.intensity_px < hi:
                cells[int(m.talking)][0] += m.found
                cells[int(m.talking)][1] += 1
        lines.append(f"{f'{lo:.1f}-{min(hi, 3.0):.1f}':<16} {frac(cells[0]):>11} "
                     f"{frac(cells[1]):>13}")
    total = [sum(m.found for m in rows), len(rows)]
    lines.append(f"{'all':<16} {frac(total):>25}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+", type=Path, help="folders of cached scenes (.npz)")
    ap.add_argument("--glob", default="*.npz", help="which scenes (file name pattern)")
    ap.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                    help="learned spotter options, as for train.spotter.evaluate")
    a = ap.parse_args(argv)
    options = {k: option_value(v) for k, v in (o.split("=", 1) for o in a.option)}
    paths = sorted(p for d in a.dirs for p in d.glob("*.npz")
                   if fnmatch.fnmatch(p.name, a.glob) and not p.name.endswith(".tmp.npz")
                   and "grid_" not in p.name)
    if not paths:
        print(f"error: no cached scenes match {a.glob} in {a.dirs}", file=sys.stderr)
        return 2
    print(recall_table(micro_recall(paths, options)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
