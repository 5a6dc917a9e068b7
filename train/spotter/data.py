"""Aligned-face caches of synthetic scenes for the learned spotter (SYNTHETIC data only).

Each scene (a :class:`~pipeline.synth.scene.SceneSpec` on the real GRID faces and the
astronaut, default distractors and speech) is rendered, tracked and aligned by the
PRODUCTION aligner (:func:`pipeline.spotting.offline.aligned_face_frames`), reduced to the
network's input (:func:`pipeline.spotting.learned_input.face_input`) and saved as one
``.npz`` (faces, pts, track ids, micro / macro GT in ns). Alignment costs 5-10 ms a
frame, so this runs once per scene and the training / evaluation read the caches.

Run (the recipe's sets; several processes share the list)::

    .venv/bin/python -m train.spotter.data --out data/spotter --set train --workers 2
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
import time
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from pipeline.faces.preview import read_video
from pipeline.spotting.evaluate import frame_span_ns
from pipeline.spotting.learned_input import face_input

INPUT_SIZE = 64
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
FACES = [SHARED / "grid", SHARED / "astronaut.png"]
GRID = SHARED / "grid"


@dataclass(frozen=True)
class SceneJob:
    """One cached scene: a synthetic SceneSpec (``seed``), or a plain GRID clip (``clip``)."""

    name: str
    seed: int = 0
    fps: float = 30.0
    seconds: float = 30.0
    events_per_minute: float = 12.0
    align_size: int = 128
    stabilise: str = "one_euro"
    clip: str | None = None


def _test_set(seeds_30: range, seeds_200: range) -> list[SceneJob]:
    """A test set: 30 fps x 30 s and 200 fps x 10 s scenes, 12 events a minute."""
    return ([SceneJob(f"s{s}_30", s, 30.0, 30.0, 12.0) for s in seeds_30]
            + [SceneJob(f"s{s}_200", s, 200.0, 10.0, 12.0) for s in seeds_200])


SETS = ("train", "val", "test", "test2", "test3", "test4", "test5", "test6", "test7",
        "compare",
        "grid", "align_check")
"""The names :func:`scene_jobs` knows."""


def scene_jobs(which: str) -> list[SceneJob]:
    """The named sets. Seeds: train 1000+, validation 500-519, test 300-319 / 300-309 and
    the comparison seeds 100-109 (the flow table's), fresh test seeds 320-339 / 320-329
    (``test2``), 340-359 / 330-339 (``test3``), 360-379 / 360-369 (``test4``) and 380-399 /
    380-389 (``test5``), 400-419 / 400-409 (``test6``) and 420-439 / 410-419 (``test7``); no
    seed is in two sets."""
    jobs: list[SceneJob] = []
    if which == "train":
        for s in range(1000, 1048):   # 30 fps, more events than the test scenes
            jobs.append(SceneJob(f"s{s}_30", s, 30.0, 30.0, 18.0))
        for s in range(1100, 1108):   # 30 fps, no expressions: speech / blinks / head only
            jobs.append(SceneJob(f"s{s}_30_none", s, 30.0, 30.0, 0.0))
        for s in range(1200, 1206):   # 200 fps
            jobs.append(SceneJob(f"s{s}_200", s, 200.0, 10.0, 18.0))
        for s in range(1300, 1306):   # the demo's alignment: 64 px, hold
            jobs.append(SceneJob(f"s{s}_30_hold64", s, 30.0, 30.0, 18.0, 64, "hold"))
    elif which == "val":
        for s in range(500, 520):
            jobs.append(SceneJob(f"s{s}_30", s, 30.0, 30.0, 12.0))
        for s in range(500, 504):
            jobs.append(SceneJob(f"s{s}_200", s, 200.0, 10.0, 12.0))
        for s in range(520, 524):
            jobs.append(SceneJob(f"s{s}_30_none", s, 30.0, 30.0, 0.0))
    elif which == "test":
        jobs = _test_set(range(300, 320), range(300, 310))
    elif which == "test2":   # fresh test seeds for the canonical-space retrain (issue 6)
        jobs = _test_set(range(320, 340), range(320, 330))
    elif which == "test3":   # fresh test seeds kept for the next learned-spotter round
        jobs = _test_set(range(340, 360), range(330, 340))
    elif which == "test4":   # fresh test seeds kept for the round after test3 was scored
        jobs = _test_set(range(360, 380), range(360, 370))
    elif which == "test5":   # fresh test seeds for the round after test4 was read
        jobs = _test_set(range(380, 400), range(380, 390))
    elif which == "test6":   # fresh test seeds for the round after test5 was read
        jobs = _test_set(range(400, 420), range(400, 410))
    elif which == "test7":   # fresh seeds: the fast mesh's confirmation (issue 21)
        jobs = _test_set(range(420, 440), range(410, 420))
    elif which == "compare":
        for s in range(100, 110):
            jobs.append(SceneJob(f"s{s}_30", s, 30.0, 30.0, 12.0))
            jobs.append(SceneJob(f"s{s}_200", s, 200.0, 10.0, 12.0))
    elif which == "align_check":   # the same scenes aligned as the harness and as the demo
        for s in range(540, 544):
            jobs.append(SceneJob(f"s{s}_30", s, 30.0, 30.0, 12.0))
            jobs.append(SceneJob(f"s{s}_30_hold64", s, 30.0, 30.0, 12.0, 64, "hold"))
    elif which == "grid":
        for p in sorted(GRID.glob("*.mpg")):
            jobs.append(SceneJob(f"grid_{p.stem}", fps=25.0, clip=str(p)))
    else:
        raise ValueError(f"unknown set {which!r}")
    return jobs


def scene_of_job(job: SceneJob):  # -> SyntheticScene
    """The planned synthetic scene of ``job`` (rendering is lazy: planning only)."""
    from pipeline.synth.scene import SceneSpec, SyntheticScene

    return SyntheticScene(SceneSpec(seed=job.seed, fps=job.fps, seconds=job.seconds,
                                    faces=list(FACES), events_per_minute=job.events_per_minute))


def cache_scene(job: SceneJob, out: Path) -> Path:
    """Render (or read), align and save one scene; skipped when its file exists."""
    from pipeline.spotting.offline import aligned_face_frames

    path = out / f"{job.name}.npz"
    if path.exists():
        return path
    micro: list[tuple[int, int]] = []
    macro: list[tuple[int, int]] = []
    if job.clip is None:
        scene = scene_of_job(job)
        frames = scene.frames()
        for e in scene.truth.events:
            if e.face == 0:
                (micro if e.kind == "micro" else macro).append(
                    frame_span_ns(e.onset, e.offset, e.fps))
    else:
        frames = read_video(job.clip)
    faces, pts, tracks = [], [], []
    count = 0
    for track, frame in aligned_face_frames(frames, size=job.align_size,
                                            stabilise=job.stabilise):
        if frame is None:
            continue
        faces.append(face_input(frame.gray, INPUT_SIZE))
        pts.append(frame.pts_ns)
        tracks.append(track)
    count = round(job.seconds * job.fps) if job.clip is None else len(set(pts))
    out.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(
        tmp, faces=np.asarray(faces, np.uint8).reshape(-1, INPUT_SIZE, INPUT_SIZE),
        pts=np.asarray(pts, np.int64), tracks=np.asarray(tracks, np.int32),
        micro=np.asarray(micro, np.int64).reshape(-1, 2),
        macro=np.asarray(macro, np.int64).reshape(-1, 2),
        video_ms=np.float64(count * 1000.0 / job.fps), fps=np.float64(job.fps),
        seed=np.int64(job.seed), align_size=np.int64(job.align_size),
        stabilise=np.str_(job.stabilise))
    tmp.rename(path)
    return path


def _run(args: tuple[SceneJob, Path]) -> str:
    job, out = args
    t0 = time.monotonic()
    cache_scene(job, out)
    return f"{job.name} {time.monotonic() - t0:.1f}s"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("data/spotter"))
    ap.add_argument("--set", action="append", required=True, choices=SETS)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--only", help="only the scenes whose name matches (fnmatch)")
    a = ap.parse_args(argv)
    jobs = [(j, a.out / s) for s in a.set for j in scene_jobs(s)
            if a.only is None or fnmatch.fnmatch(j.name, a.only)]
    with Pool(a.workers) as pool:
        for line in pool.imap_unordered(_run, jobs):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
