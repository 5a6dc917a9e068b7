"""The planned scene behind a cached spotter scene (SYNTHETIC data only).

A cached scene (:mod:`train.spotter.data`, :mod:`train.spotter.canonical`) keeps only the
GT intervals; what made them (action units, the face, its speech) comes from planning the
scene again from its job: the same seed gives the same events, planning renders nothing
(~6 s a scene for the MediaPipe-meshed base faces, once per process). The replanned
intervals are checked against the cached ones, so a changed planner fails loudly instead
of mislabelling. Used by the lip-corner targets (:mod:`train.spotter.corner`), the event
weights of :mod:`train.spotter.fit` and the lab's recall tables.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from pipeline.spotting.evaluate import frame_span_ns
from pipeline.synth.truth import ExpressionEvent


@functools.cache
def _jobs_by_name() -> dict[str, tuple[str, object]]:
    """Every named cached-scene job: name -> ("canonical" | "production", job)."""
    from train.spotter.canonical import canonical_jobs
    from train.spotter.data import SETS, scene_jobs

    jobs: dict[str, tuple[str, object]] = {}
    for which in SETS:
        jobs.update({j.name: ("production", j) for j in scene_jobs(which)
                     if j.clip is None})
    for which in ("train", "train2", "smoke"):
        jobs.update({j.name: ("canonical", j) for j in canonical_jobs(which)})
    return jobs


def scene_of(path: Path):  # -> SyntheticScene
    """The planned scene of a cached ``.npz``, from the job of that name."""
    d = np.load(path)
    canonical = "generator" in d.files and str(d["generator"]) == "canonical"
    kind, job = _jobs_by_name().get(path.stem, ("", None))
    if kind != ("canonical" if canonical else "production"):
        raise ValueError(f"{path}: no {'canonical' if canonical else 'synthetic scene'} "
                         f"job named {path.stem!r}")
    if canonical:
        from train.spotter.canonical import make_scene

        return make_scene(job, _canonical_bases())
    from train.spotter.data import scene_of_job

    return scene_of_job(job)


def planned_micro(scene, path: Path) -> tuple[list[ExpressionEvent], bool]:
    """The micro events of face 0 of ``scene`` in the order of the cached ``micro`` GT of
    ``path`` (checked: same intervals), and whether the face talks (a GRID speaker rather
    than a still image)."""
    events = [e for e in scene.truth.events if e.face == 0 and e.kind == "micro"]
    spans = [frame_span_ns(e.onset, e.offset, e.fps) for e in events]
    cached = [(int(a), int(b)) for a, b in np.load(path)["micro"]]
    if spans != cached:
        raise ValueError(f"{path}: the replanned micro events differ from the cached GT "
                         f"({len(spans)} vs {len(cached)}): was the planner changed?")
    return events, not scene.layers[0].base.still


@functools.cache
def _canonical_bases() -> list:
    """The meshed base faces of the canonical scenes, read once per process."""
    from train.spotter.canonical import load_bases

    return load_bases()
