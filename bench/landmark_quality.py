"""What ``tracking.landmark_every`` costs in spotting quality: synthetic scenes tracked,
aligned (64 px, ``hold``, as the demo and the benchmark) and spotted (flow) with the
landmarks located on every frame and on every k-th frame only, as the align stage does
it, scored against the planted micro-expressions (IoU >= 0.5).

Run (a few minutes; synthetic data only)::

    python -m bench.landmark_quality --seeds 4 --seconds 60 --every 1 2
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import numpy as np

from pipeline.faces import FaceAligner, FaceTracker, open_backend
from pipeline.spotting.evaluate import evaluate_spotting
from pipeline.spotting.face_frame import FaceFrame
from pipeline.spotting.offline import micro_truth_ns, run_spotters


def aligned_every(frames: list[tuple[np.ndarray, int]], every: int
                  ) -> Iterator[tuple[int, FaceFrame | None]]:
    """(track id, FaceFrame) per face and frame, the tracker running on every
    ``every``-th frame and its last tracks reused in between (pipeline/stages/align.py)."""
    tracker = FaceTracker(open_backend("mediapipe"))
    aligner = FaceAligner(size=64, stabilise="hold")
    tracks: list = []
    live: set[int] = set()
    try:
        for i, (image, pts) in enumerate(frames):
            if every == 1 or i % every == 0 or not tracks:
                tracks = tracker.update(image, pts)
                for ended in tracker.pop_ended():
                    aligner.forget(ended)
                    live.discard(ended)
                    yield ended, None
            for track in tracks:
                face = aligner.align(track.id, image, track.landmarks, pts, track.det_score)
                live.add(track.id)
                yield track.id, FaceFrame(pts, face.gray, face.points)
    finally:
        tracker.close()
    for track_id in sorted(live):
        yield track_id, None


def compare(seeds: int, seconds: float, everies: list[int]) -> dict[int, dict[str, float]]:
    from pipeline.stages.spot.stage import make_spotter
    from pipeline.synth.source import synthetic_source

    totals = {k: {"tp": 0, "fp": 0, "fn": 0} for k in everies}
    for seed in range(seeds):
        src = synthetic_source(f"q{seed}", seed=200 + seed, seconds=seconds,
                               label_set="casme2", event_rate=12.0)
        src.open()
        frames = list(src)
        truth = micro_truth_ns(src.truth)
        for k in everies:
            run = run_spotters(aligned_every(frames, k), lambda: make_spotter("flow", 300.0, {}))
            preds = [iv for ivs in run.intervals.values() for iv in ivs if iv.kind == "micro"]
            s = evaluate_spotting(truth, preds, seconds * 1000.0)
            for key in ("tp", "fp", "fn"):
                totals[k][key] += getattr(s, key)
    out = {}
    for k, t in totals.items():
        p = t["tp"] / (t["tp"] + t["fp"]) if t["tp"] + t["fp"] else 0.0
        r = t["tp"] / (t["tp"] + t["fn"]) if t["tp"] + t["fn"] else 0.0
        out[k] = {**t, "precision": p, "recall": r,
                  "f1": 2 * p * r / (p + r) if p + r else 0.0}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--every", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    for k, s in compare(args.seeds, args.seconds, args.every).items():
        print(f"landmark_every {k}: micro F1 {s['f1']:.3f} (precision {s['precision']:.3f}, "
              f"recall {s['recall']:.3f}; TP {s['tp']} FP {s['fp']} FN {s['fn']})")


if __name__ == "__main__":
    main()
