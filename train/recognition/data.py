"""Recognition clips rendered in the aligned face, in two deformation domains (SYNTHETIC).

One clip = one micro-expression on one real base face (the 11 GRID speakers and the
astronaut, meshed once: ``data/spotter/bases.npz``), with what the serving pipeline also
sees around it: speech (the GRID clips talk), blinks, head motion, illumination,
landmark jitter through the PRODUCTION :class:`FaceAligner` (one_euro at 128 px, as
``make demo`` serves, or hold), sensor noise. Frames are rendered straight into the
aligned face (:class:`train.spotter.canonical.CanonicalRenderer`) at every source frame
from 350 ms before the onset to 350 ms after the offset, at 25-200 fps, so a training
span can be cut anywhere around the true interval at training time, as a spotter would.

Domains (``--domain``):

- ``train``: mestream's RBF generator with domain randomisation per clip
  (:meth:`DeformationSpec.randomised`: AU directions, side gains, kernel width, time
  course);
- ``heldout``: the Waters muscle + thin-plate spline model (:mod:`pipeline.synth.muscles`),
  used ONLY for test figures.

Each clip's action units are drawn from the label sets' AU combinations
(:data:`pipeline.synth.labels.LABEL_SETS`, all sets pooled), so one dataset serves every
label set: the class of a clip is the label set's AU rule applied to its AUs
(:mod:`pipeline.recognition.au_rules`).

Output ``data/recognition/<domain>.npz``: frames of all clips concatenated (``face``
64 px, ``eyes`` / ``mouth`` 32 px as the aligner cuts them, ``pts`` ns), ``start`` (clip
k's frames are ``start[k]:start[k+1]``), and per clip ``onset_ns``, ``apex_ns``,
``offset_ns``, ``aus`` ("AU1+AU2"), ``intensity_px``, ``subject``, ``fps``, ``seed``.

Run::

    .venv/bin/python -m train.recognition.data --domain train --clips 1800 --workers 2
    .venv/bin/python -m train.recognition.data --domain heldout --clips 360 --workers 2
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np

from pipeline.faces.canonical import EYES_BOX, MOUTH_BOX, box_pixels
from pipeline.synth.base_faces import BaseFace
from pipeline.synth.deformation_model import DeformationSpec
from pipeline.synth.distractors import DistractorSpec
from pipeline.synth.labels import LABEL_SETS
from pipeline.synth.scene import SceneSpec, SyntheticScene
from pipeline.synth.truth import ExpressionEvent
from train.spotter.canonical import BASES, CanonicalRenderer, load_bases

OUT = Path("data/recognition")
ALIGN = 128
FACE = 64
REGION = 32
CONTEXT_S = 0.35
"""Rendered before the onset and after the offset (span jitter reaches into it)."""
FPS_CHOICES = (25.0, 30.0, 30.0, 50.0, 100.0, 200.0)
RECOGNITION_TAG = 0x4EC0
DOMAINS = ("train", "heldout")


def au_combinations() -> dict[str, list[tuple[str, ...]]]:
    """Every AU combination of the label sets, grouped by its MEGC class (positive,
    surprise, negative, or ``others`` where no MEGC class applies): draws are balanced
    over those groups, so each label set's classes are all well represented."""
    from pipeline.recognition.au_rules import rule_class

    groups: dict[str, list[tuple[str, ...]]] = {}
    for classes in LABEL_SETS.values():
        for combos in classes.values():
            for combo in combos:
                key = rule_class("megc3", set(combo)) or "others"
                if combo not in groups.setdefault(key, []):
                    groups[key].append(combo)
    return {k: sorted(v) for k, v in sorted(groups.items())}


GROUP_WEIGHTS = {"negative": 0.3, "positive": 0.3, "surprise": 0.3, "others": 0.1}


@dataclass(frozen=True)
class ClipJob:
    domain: str
    index: int
    seed: int


def _scene(job: ClipJob, base: BaseFace, rng: np.random.Generator
           ) -> tuple[SyntheticScene, ExpressionEvent, float]:
    fps = float(FPS_CHOICES[int(rng.integers(len(FPS_CHOICES)))])
    groups = au_combinations()
    names = sorted(groups)
    group = names[int(rng.choice(len(names), p=[GROUP_WEIGHTS[n] for n in names]))]
    aus = groups[group][int(rng.integers(len(groups[group])))]
    n = max(3, round(rng.uniform(170.0, 500.0) * fps / 1000.0))
    pre = round(rng.uniform(0.6, 1.0) * fps)           # aligner warm-up + context
    onset = pre
    apex = onset + min(n - 2, max(1, round(rng.uniform(0.3, 0.5) * (n - 1))))
    offset = onset + n - 1
    total = offset + 1 + round((CONTEXT_S + 0.05) * fps)
    event = ExpressionEvent(stream="clip", face=0, onset=onset, apex=apex, offset=offset,
                            fps=fps, kind="micro", label=group, label_set="megc3",
                            aus=tuple(aus), intensity_px=round(float(rng.uniform(1.0, 3.0)), 3))
    deformation = (DeformationSpec.randomised(rng) if job.domain == "train"
                   else DeformationSpec("muscle"))
    spec = SceneSpec(seed=job.seed, fps=fps, width=64, height=64, frames=total, faces=[base],
                     events_per_minute=0.0, script=[event],
                     distractors=DistractorSpec(noise_sigma=0.0), deformation=deformation)
    return SyntheticScene(spec), event, fps


def render_clip(job: ClipJob, bases: list[BaseFace]) -> dict[str, np.ndarray]:
    """One clip's arrays (see the module docstring)."""
    rng = np.random.default_rng([job.seed, RECOGNITION_TAG, DOMAINS.index(job.domain)])
    base = bases[job.index % len(bases)]           # subjects in turn: balanced
    scene, event, fps = _scene(job, base, rng)
    stabilise = "one_euro" if rng.random() < 0.75 else "hold"
    ex0, ey0, ex1, ey1 = box_pixels(EYES_BOX, ALIGN)
    mx0, my0, mx1, my1 = box_pixels(MOUTH_BOX, ALIGN)
    renderer = CanonicalRenderer(scene, ALIGN, stabilise, rng, rows=my1)
    first = max(0, event.onset - round(CONTEXT_S * fps))
    last = min(scene.total - 1, event.offset + round(CONTEXT_S * fps))
    faces, eyes, mouths, pts = [], [], [], []
    for i in range(scene.total):
        p = scene.pts_ns(i)
        m = renderer.transform(i, p)
        if first <= i <= last:
            canvas = renderer.render(i, m)
            faces.append(cv2.resize(canvas[:ALIGN], (FACE, FACE), interpolation=cv2.INTER_AREA))
            eyes.append(cv2.resize(canvas[ey0:ey1, ex0:ex1], (REGION, REGION),
                                   interpolation=cv2.INTER_AREA))
            mouths.append(cv2.resize(canvas[my0:my1, mx0:mx1], (REGION, REGION),
                                     interpolation=cv2.INTER_AREA))
            pts.append(p)
    return dict(face=np.stack(faces), eyes=np.stack(eyes), mouth=np.stack(mouths),
                pts=np.asarray(pts, np.int64), onset_ns=scene.pts_ns(event.onset),
                apex_ns=scene.pts_ns(event.apex),
                offset_ns=scene.pts_ns(event.offset + 1) - 1, aus="+".join(event.aus),
                intensity_px=event.intensity_px, subject=base.subject, fps=fps,
                seed=job.seed, stabilise=stabilise)


_BASES: list[BaseFace] | None = None


def _run(job: ClipJob) -> dict[str, np.ndarray]:
    global _BASES
    if _BASES is None:
        _BASES = load_bases(BASES)
    return render_clip(job, _BASES)


def jobs(domain: str, clips: int, seed0: int | None = None) -> list[ClipJob]:
    """``clips`` clips of ``domain``; seeds 700000+ (train) and 800000+ (heldout), apart
    from every spotter seed."""
    base = seed0 if seed0 is not None else (700000 if domain == "train" else 800000)
    return [ClipJob(domain, k, base + k) for k in range(clips)]


def pack(rows: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Per-clip rows -> the concatenated ``.npz`` arrays."""
    lengths = [len(r["pts"]) for r in rows]
    out = {k: np.concatenate([r[k] for r in rows]) for k in ("face", "eyes", "mouth", "pts")}
    out["start"] = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    for k in ("onset_ns", "apex_ns", "offset_ns", "seed"):
        out[k] = np.asarray([r[k] for r in rows], np.int64)
    for k in ("intensity_px", "fps"):
        out[k] = np.asarray([r[k] for r in rows], np.float64)
    for k in ("aus", "subject", "stabilise"):
        out[k] = np.asarray([str(r[k]) for r in rows])
    return out


def build(domain: str, clips: int, out: Path, workers: int = 1, seed0: int | None = None,
          progress: bool = True) -> Path:
    """Render ``clips`` clips of ``domain`` into ``out``; returns the file."""
    if domain not in DOMAINS:
        raise ValueError(f"domain must be one of {DOMAINS}, got {domain!r}")
    todo = jobs(domain, clips, seed0)
    t0 = time.monotonic()
    rows: list[dict[str, np.ndarray]] = []
    with Pool(workers) as pool:
        for k, row in enumerate(pool.imap(_run, todo, chunksize=4)):
            rows.append(row)
            if progress and (k + 1) % 50 == 0:
                print(f"{domain}: {k + 1}/{len(todo)} clips, {time.monotonic() - t0:.0f} s",
                      flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, domain=np.str_(domain), **pack(rows))
    tmp.rename(out)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--domain", choices=DOMAINS, required=True)
    ap.add_argument("--clips", type=int, default=1800)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--seed0", type=int, default=None, help="first clip seed (default "
                    "700000 train, 800000 heldout; 703000 makes the second training file)")
    a = ap.parse_args(argv)
    out = a.out or OUT / f"{a.domain}.npz"
    print(build(a.domain, a.clips, out, a.workers, seed0=a.seed0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
