"""How visible a micro-expression is in the learned spotter's input, against what speech
does to the same place (SYNTHETIC scenes on the real GRID faces).

Two measurements behind the spotting README's "What limits it":

1. :func:`event_visibility`: canonical training scenes rendered at each event's onset and
   apex WITH and WITHOUT the expression (same head motion, aligner, speech, noise off).
   Per event: the mean |difference| the expression alone makes in its strongest cell
   (16 x 16 cells) at the apex, and what the rest of the scene (speech, head motion)
   changes in that cell between onset and apex, at the 128 px aligned face and at the
   model's 64 px input.
2. :func:`speaker_corner_motion`: the GRID speakers' own lip corners (MediaPipe points 61
   and 291, in the 128 px canonical face) moved along AU12's direction (up and out,
   both corners together) over a few frames: the "noise" a lone AU12 of 1-3 px must
   stand out from (landmark jitter included).

Run (needs ``data/spotter/bases.npz``, :func:`train.spotter.canonical.cache_bases`)::

    .venv/bin/python -m train.spotter.visibility --events 8
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import numpy as np

from pipeline.faces.canonical import MEDIAPIPE, raw_transform
from pipeline.spotting.learned_input import face_input
from pipeline.synth.base_faces import BaseFace
from train.spotter.canonical import (
    CANONICAL_TAG,
    CanonicalRenderer,
    canonical_jobs,
    load_bases,
    make_scene,
)

CELLS = 16
MOUTH_AUS = (("AU12",), ("AU15",), ("AU6", "AU12"))
AU12_DIRECTION = np.array([0.6, -0.8])   # the image-right corner; the left one mirrored


@dataclass(frozen=True, slots=True)
class EventVisibility:
    scene: str
    aus: str
    intensity_px: float
    size: int
    event_cell: float
    """Mean |with - without the expression| at the apex in the strongest cell."""
    scene_cell: float
    """Mean |apex - onset| without the expression, same cell (speech, head motion)."""


def _cells(x: np.ndarray) -> np.ndarray:
    c = x.shape[0] // CELLS
    return np.abs(x).reshape(CELLS, c, CELLS, c).mean(axis=(1, 3))


def event_visibility(events: int = 8, aus: tuple[tuple[str, ...], ...] = MOUTH_AUS
                     ) -> list[EventVisibility]:
    """The first ``events`` micro events with ``aus`` on talking faces of the canonical
    30 fps training scenes, measured at 128 and 64 px."""
    bases = load_bases()
    out: list[EventVisibility] = []
    for job in canonical_jobs("train"):
        if job.fps != 30.0 or job.plain or len(out) >= 2 * events:
            continue
        scene = make_scene(job, bases)
        if scene.layers[0].base.still:
            continue
        wanted = [e for e in scene.truth.events
                  if e.face == 0 and e.kind == "micro" and e.aus in aus]
        wanted = wanted[: events - len(out) // 2]
        if not wanted:
            continue
        renderer = CanonicalRenderer(scene, job.align_size, job.stabilise,
                                     np.random.default_rng([job.seed, CANONICAL_TAG]),
                                     noise=False)
        frames = {k for e in wanted for k in (e.onset, e.apex)}
        transforms = {}
        for i in range(max(frames) + 1):      # the aligner must see every frame in order
            m = renderer.transform(i, scene.pts_ns(i))
            if i in frames:
                transforms[i] = m
        for e in wanted:
            with_apex = renderer.render(e.apex, transforms[e.apex]).astype(np.float64)
            bare_apex = renderer.render(e.apex, transforms[e.apex], False).astype(np.float64)
            bare_onset = renderer.render(e.onset, transforms[e.onset], False).astype(np.float64)
            for size in (128, 64):
                def at(x: np.ndarray, size: int = size) -> np.ndarray:
                    if size == x.shape[0]:
                        return x
                    return face_input(x.astype(np.uint8), size).astype(np.float64)
                event = _cells(at(with_apex) - at(bare_apex))
                k = np.unravel_index(int(event.argmax()), event.shape)
                rest = _cells(at(bare_apex) - at(bare_onset))
                out.append(EventVisibility(job.name, "+".join(e.aus), e.intensity_px, size,
                                           float(event[k]), float(rest[k])))
    return out


def speaker_corner_motion(base: BaseFace, lag: int) -> float:
    """Standard deviation (px, 128 px canonical face) of the two lip corners' movement
    along AU12's direction over ``lag`` frames of one talking base video."""
    pts = []
    for p in base.landmarks.astype(np.float64):
        m = np.asarray(raw_transform(MEDIAPIPE, p, 128.0))
        pts.append(p @ m[:2, :2].T + m[:2, 2])
    q = np.asarray(pts)
    left, right = q[:, 61], q[:, 291]
    mirror = AU12_DIRECTION * np.array([-1.0, 1.0])
    along = ((left[lag:] - left[:-lag]) @ mirror + (right[lag:] - right[:-lag]) @ AU12_DIRECTION)
    return float((along / 2).std())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=8, help="mouth events to render")
    ap.add_argument("--lag", type=int, default=4, help="frames (GRID: 25 fps) for 2.")
    a = ap.parse_args(argv)
    print("| scene | action units | apex px | face px | event alone, strongest cell "
          "| speech + head, same cell, onset -> apex |")
    print("|---|---|---|---|---|---|")
    for v in event_visibility(a.events):
        print(f"| {v.scene} | {v.aus} | {v.intensity_px:.1f} | {v.size} | "
              f"{v.event_cell:.1f} | {v.scene_cell:.1f} |")
    print()
    print(f"| GRID clip | lip-corner movement along AU12 over {a.lag} frames, std px (128) |")
    print("|---|---|")
    for base in load_bases():
        if not base.still:
            print(f"| {base.subject} | {speaker_corner_motion(base, a.lag):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
