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
3. :func:`corner_oracle`: an IDEAL lip-corner detector, given the exact corner positions
   of each scene (the base video's landmarks plus the planted expression, blink and
   speech displacement: no pixels, no aligner) and no head motion. Its signal is the
   corners' position along AU12, smoothed over ``smooth`` ticks, minus the larger of its
   medians 100-600 ms before and 250-750 ms after (an ME rises and returns); a run above
   ``theta`` px is a detection, a hit when its peak lies in a micro event (100 ms before
   to 200 ms after), a false alarm when it lies in no event. Read alone, the corners'
   lift bounds what a detector of the corners' POSITION can find on these faces; read
   against the rest of the lips (``against_lips``: speech moves the whole mouth, a lone
   AU12 only the corners) the same geometry separates them, which is what
   :mod:`train.models.mouth_corner` learns from the pixels.

Run (needs ``data/spotter/bases.npz``, :func:`train.spotter.canonical.cache_bases`)::

    .venv/bin/python -m lab.spotter.visibility --events 8
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import numpy as np

from pipeline.faces.canonical import MEDIAPIPE, raw_transform
from pipeline.spotting.learned_input import face_input
from pipeline.synth.base_faces import BaseFace
from pipeline.synth.face_layer import CONTROL_ROW
from train.spotter.canonical import (
    CANONICAL_TAG,
    CanonicalRenderer,
    canonical_jobs,
    load_bases,
    make_scene,
    tick_frames,
)
from train.spotter.corner import along_au12

CELLS = 16
MOUTH_AUS = (("AU12",), ("AU15",), ("AU6", "AU12"))


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
        if len(out) >= 2 * events:
            break
        if job.fps != 30.0 or job.plain:
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
            renders = (renderer.render(e.apex, transforms[e.apex]),
                       renderer.render(e.apex, transforms[e.apex], False),
                       renderer.render(e.onset, transforms[e.onset], False))
            for size in (128, 64):
                with_apex, bare_apex, bare_onset = (
                    face_input(r, size).astype(np.float64) for r in renders)
                event = _cells(with_apex - bare_apex)
                k = np.unravel_index(int(event.argmax()), event.shape)
                rest = _cells(bare_apex - bare_onset)
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
    along = along_au12(*np.asarray(pts)[:, (61, 291)].transpose(1, 0, 2))
    return float((along[lag:] - along[:-lag]).std())




@dataclass(frozen=True)
class CornerTrack:
    """One talking scene: tick times (s), the corner signal (px) and the scene's events."""

    t: np.ndarray
    lift: np.ndarray
    events: list
    seconds: float


LIP_POINTS = (0, 13, 17, 14, 37, 39, 267, 269, 84, 314, 152)
"""Lip midlines, upper and lower lip, chin: the mouth points AU12 / AU15 leave in place."""


def corner_tracks(scenes: int = 60, smooth: int = 3, against_lips: bool = False
                  ) -> list[CornerTrack]:
    """:func:`corner_oracle`'s signal for the talking faces among the first ``scenes``
    canonical 30 fps training scenes with events. ``against_lips``: the corners' lift
    minus its least-squares prediction from :data:`LIP_POINTS` over the scene (speech
    moves the whole mouth, a lone AU12 only the corners)."""
    bases = load_bases()
    jobs = [j for j in canonical_jobs("train") + canonical_jobs("train2")
            if j.fps == 30.0 and not j.plain and j.events_per_minute > 0][:scenes]
    out = []
    for job in jobs:
        scene = make_scene(job, bases)
        layer = scene.layers[0]
        if layer.base.still:
            continue
        frames = tick_frames(scene.total or 0, job.fps)
        along, lips = [], []
        for i in frames:
            p = layer.canonical_points(layer.base_index(i)).astype(np.float64)
            d = scene.control_displacement(i)
            if d is not None:
                moved = [k for k in (61, 291, *LIP_POINTS) if k in CONTROL_ROW]
                p = p.copy()
                p[moved] += d[[CONTROL_ROW[k] for k in moved]]
            along.append(along_au12(p[61], p[291]))
            lips.append(p[list(LIP_POINTS)].ravel())
        x = np.asarray(along)
        if against_lips:
            design = np.c_[np.asarray(lips), np.ones(len(x))]
            x = x - design @ np.linalg.lstsq(design, x, rcond=None)[0]
        if smooth > 1:
            x = np.convolve(np.pad(x, (smooth // 2, smooth - 1 - smooth // 2), mode="edge"),
                            np.ones(smooth) / smooth, mode="valid")
        t = np.asarray(frames) / job.fps
        lift = np.zeros_like(x)
        for k in range(len(t)):
            before = (t >= t[k] - 0.6) & (t <= t[k] - 0.1)
            after = (t >= t[k] + 0.25) & (t <= t[k] + 0.75)
            if before.sum() > 2 and after.sum() > 2:
                lift[k] = x[k] - max(np.median(x[before]), np.median(x[after]))
        out.append(CornerTrack(t, lift, [e for e in scene.truth.events if e.face == 0],
                               (scene.total or 0) / job.fps))
    return out


def corner_oracle(tracks: list[CornerTrack], theta: float
                  ) -> tuple[float, dict[str, tuple[int, int]]]:
    """False alarms a minute and (found, total) micro events by action units at ``theta``."""
    hits: set[int] = set()
    false_alarms = 0
    for tr in tracks:
        above = tr.lift > theta
        k = 0
        while k < len(above):
            if not above[k]:
                k += 1
                continue
            j = k
            while j < len(above) and above[j]:
                j += 1
            peak = tr.t[k + int(np.argmax(tr.lift[k:j]))]
            inside = [e for e in tr.events
                      if e.onset / e.fps - 0.1 <= peak <= e.offset / e.fps + 0.2]
            false_alarms += not inside
            hits |= {id(e) for e in inside if e.kind == "micro"}
            k = j
    found: dict[str, tuple[int, int]] = {}
    for tr in tracks:
        for e in tr.events:
            if e.kind == "micro":
                key = "+".join(e.aus)
                f, n = found.get(key, (0, 0))
                found[key] = (f + (id(e) in hits), n + 1)
    minutes = sum(tr.seconds for tr in tracks) / 60
    return false_alarms / minutes if minutes else 0.0, found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=8, help="mouth events to render")
    ap.add_argument("--lag", type=int, default=4, help="frames (GRID: 25 fps) for 2.")
    ap.add_argument("--scenes", type=int, default=60,
                    help="canonical 30 fps training scenes for 3. (talking ones are used)")
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
    print()
    for against in (False, True):
        tracks = corner_tracks(a.scenes, against_lips=against)
        minutes = sum(tr.seconds for tr in tracks) / 60
        what = "against the other lip points" if against else "alone"
        print(f"\nideal lip-corner detector, the corners {what}, on {len(tracks)} talking "
              f"scenes ({minutes:.0f} min):")
        print("| theta px (128) | false alarms/min | lone AU12 | lone AU15 | AU6+AU12 |")
        print("|---|---|---|---|---|")
        for theta in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0):
            rate, found = corner_oracle(tracks, theta)
            cells = [f"{found.get(k, (0, 0))[0]}/{found.get(k, (0, 0))[1]}"
                     for k in ("AU12", "AU15", "AU6+AU12")]
            print(f"| {theta:.1f} | {rate:.1f} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
