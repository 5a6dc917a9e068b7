"""Training scenes for the learned spotter rendered straight into the aligned (canonical)
face, without running MediaPipe on any rendered frame (SYNTHETIC data only).

The slow part of :mod:`train.spotter.data` is MediaPipe + the aligner on every rendered
640x480 frame (30-100 ms a frame on the shared CPU). Here the real faces are meshed ONCE
(:func:`cache_bases`: the GRID clips and the astronaut, gray frames + MediaPipe's 478
landmarks per base frame, ``data/spotter/bases.npz``), and each scene is then made in the
frame the spotter sees:

1. the events, blinks, speech, head motion and illumination of a
   :class:`~pipeline.synth.scene.SyntheticScene` (the same planner, seeds and ground
   truth as the production-aligned caches; only the rendering differs);
2. per frame, the base frame's landmarks moved by the head motion and a little landmark
   noise (MediaPipe's jitter) go through the PRODUCTION :class:`FaceAligner` (one_euro at
   128 px, or the demo's hold at 64 px), so the aligner's lag and residual jitter are real;
3. each frame the tick sampler will use is rendered with ONE remap from the base frame:
   aligned pixel -> canonical face (undoing the head motion and the aligner's transform)
   -> the action-unit / blink / speech deformation (:mod:`pipeline.synth.actions`'s RBF
   field, canonical px) -> base pixel; then the subject's tone curve and illumination,
   sensor noise, and :func:`face_input` (64 px) as for the cached scenes.

Output: the ``.npz`` format of :mod:`train.spotter.data` (faces, pts, tracks, micro /
macro GT in ns, video_ms, fps), only the frames :class:`TickSampler` picks at 40 ms, so
:mod:`train.spotter.ticks` and :mod:`train.spotter.fit` read it unchanged. Measured on the
shared 2 cores: a 30 fps x 30 s scene in a median 6.4 s, 200 fps x 10 s in 3.1 s (the
production-aligned caches: 14 s and 26 s).

Run::

    .venv/bin/python -m train.spotter.canonical --set train --workers 2

Example (needs ``data/spotter/bases.npz``, see :func:`cache_bases`)::

    path = cache_canonical(CanonicalJob("c1_30", seed=1, seconds=10.0), Path("/tmp/c"))
"""

from __future__ import annotations

import argparse
import fnmatch
import math
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np

from pipeline.faces.alignment import FaceAligner
from pipeline.faces.canonical import MEDIAPIPE, raw_transform
from pipeline.faces.types import Landmarks
from pipeline.spotting.evaluate import frame_span_ns
from pipeline.spotting.learned_input import face_input
from pipeline.spotting.learned_ticks import TickSampler
from pipeline.synth.base_faces import BaseFace
from pipeline.synth.deformation import invert_field
from pipeline.synth.distractors import DistractorSpec
from pipeline.synth.face_layer import CANONICAL, FACE_CENTRE
from pipeline.synth.scene import SceneSpec, SyntheticScene
from pipeline.synth.truth import ExpressionEvent
from train.spotter.data import FACES, INPUT_SIZE

BASES = Path("data/spotter/bases.npz")
_RBF_CACHES: dict[tuple, OrderedDict] = {}
TICK_MS = 40.0
CANONICAL_TAG = 0xCA17


@dataclass(frozen=True)
class CanonicalJob:
    """One canonical-space scene. ``plain``: no expressions and no distractors on a
    talking (video) face (a GRID clip as it is, the false-alarm footage); ``faces``: which
    base subjects may be drawn (None = all, as the production scenes); ``distractors``:
    False turns blinks, head motion, speech and illumination off; ``script``: fixed
    expression events instead of the planner's (tests)."""

    name: str
    seed: int
    fps: float = 30.0
    seconds: float = 30.0
    events_per_minute: float = 18.0
    align_size: int = 128
    stabilise: str = "one_euro"
    plain: bool = False
    faces: tuple[str, ...] | None = None
    distractors: bool = True
    script: tuple[ExpressionEvent, ...] | None = None


def training_draw(base: int, hold_scenes: int) -> list[CanonicalJob]:
    """One draw of training scenes, 18 events/min where there are events: seeds
    ``base + 0..199`` at 30 fps x 30 s, ``base + 1000..1059`` at 200 fps x 10 s,
    ``base + 2000..2029`` without expressions, ``base + 3000..3039`` plain GRID loops
    (25 fps x 12 s) and ``hold_scenes`` from ``base + 4000`` at the demo's 64 px hold."""
    def seeds(offset: int, n: int) -> range:
        return range(base + offset, base + offset + n)

    return ([CanonicalJob(f"c{s}_30", s, 30.0, 30.0, 18.0) for s in seeds(0, 200)]
            + [CanonicalJob(f"c{s}_200", s, 200.0, 10.0, 18.0) for s in seeds(1000, 60)]
            + [CanonicalJob(f"c{s}_30_none", s, 30.0, 30.0, 0.0) for s in seeds(2000, 30)]
            + [CanonicalJob(f"c{s}_25_plain", s, 25.0, 12.0, 0.0, plain=True)
               for s in seeds(3000, 40)]
            + [CanonicalJob(f"c{s}_30_hold64", s, 30.0, 30.0, 18.0, 64, "hold")
               for s in seeds(4000, hold_scenes)])


def canonical_jobs(which: str) -> list[CanonicalJob]:
    """The named sets; seeds 10000+ (no overlap with :func:`train.spotter.data.scene_jobs`).
    ``train2`` is a second, disjoint draw (the ensemble's data, issue 6) with more of the
    demo's alignment."""
    if which == "train":
        return training_draw(10000, 30)
    if which == "train2":
        return training_draw(20000, 90)
    if which == "smoke":
        return [CanonicalJob("c99_30", 99, 30.0, 10.0, 18.0)]
    raise ValueError(f"unknown set {which!r}")


# -- base faces: meshed once --------------------------------------------------------------

def cache_bases(out: Path = BASES) -> Path:
    """Load the real base faces (MediaPipe on every base frame, once) and save their gray
    frames and landmarks; the production scenes' pool, in the same order."""
    from pipeline.synth.base_faces import load_base_faces

    faces = load_base_faces(FACES)
    arrays: dict[str, np.ndarray] = {"subjects": np.asarray([f.subject for f in faces])}
    for k, f in enumerate(faces):
        arrays[f"gray{k}"] = np.stack([cv2.cvtColor(x, cv2.COLOR_BGR2GRAY) for x in f.frames])
        arrays[f"landmarks{k}"] = f.landmarks
        arrays[f"fps{k}"] = np.float64(f.fps or 0.0)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    return out


def gray_base(face: BaseFace) -> BaseFace:
    """``face`` with GRAY frames (T, H, W), as :class:`CanonicalRenderer` samples them."""
    frames = face.frames
    if frames.ndim == 4:
        frames = np.stack([cv2.cvtColor(x, cv2.COLOR_BGR2GRAY) for x in frames])
    return BaseFace(face.subject, face.path, frames, face.landmarks, face.fps)


def load_bases(path: Path = BASES) -> list[BaseFace]:
    """The cached base faces; ``frames`` hold GRAY images (T, H, W)."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: cache the base faces first "
                                "(python -m train.spotter.canonical --bases)")
    d = np.load(path)
    out = []
    for k, subject in enumerate(d["subjects"]):
        fps = float(d[f"fps{k}"])
        out.append(BaseFace(str(subject), Path(str(subject)), d[f"gray{k}"],
                            d[f"landmarks{k}"], fps or None))
    return out


# -- rendering ----------------------------------------------------------------------------

def _h(m: np.ndarray) -> np.ndarray:
    return np.vstack([m, [0.0, 0.0, 1.0]])


def head_motion(angle_deg: float, shift: tuple[float, float]) -> np.ndarray:
    """(3, 3) canonical -> canonical: the scene's head motion (rotation about the face
    centre, then the shift, canonical px), as :meth:`FaceLayer.placement` applies it."""
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    cx, cy = FACE_CENTRE
    rot = np.array([[c, -s], [s, c]])
    t = np.array([cx + shift[0], cy + shift[1]]) - rot @ np.array([cx, cy])
    return _h(np.hstack([rot, t[:, None]]))


class CanonicalRenderer:
    """Renders one face of a :class:`SyntheticScene` in the aligner's output frame."""

    def __init__(self, scene: SyntheticScene, align_size: int, stabilise: str,
                 rng: np.random.Generator, noise: bool = True, rows: int | None = None):
        self.scene = scene
        self.layer = scene.layers[0]
        self.size = align_size
        self.rng = rng
        self.aligner = FaceAligner(size=align_size, stabilise=stabilise)
        base = self.layer.base
        # The RBF solve of a base frame (~30 ms) depends on the base frame only: share the
        # layer's per-frame cache across all scenes of a subject in this process.
        self.layer._rbf = _RBF_CACHES.setdefault(
            (base.subject, *scene.spec.deformation.field_key), OrderedDict())
        self.to_canon = [_h(raw_transform(MEDIAPIPE, p, CANONICAL)) for p in base.landmarks]
        # The "camera": canonical px -> image px (face size in the scene, where it sits).
        px = rng.uniform(1.2, 1.9)
        self.camera = np.array([[px, 0.0, rng.uniform(100, 300)],
                                [0.0, px, rng.uniform(80, 200)], [0.0, 0.0, 1.0]])
        self.point_sigma = rng.uniform(0.05, 0.25) * px if noise else 0.0
        self.pixel_sigma = rng.uniform(0.4, 1.3) if noise else 0.0
        self._dummy = np.zeros((8, 8), np.uint8)
        # ``rows`` > S renders a canvas reaching below the face square (the aligner's mouth
        # region does: pipeline.faces.canonical.MOUTH_BOX).
        self.rows = rows or align_size
        xs = np.arange(align_size, dtype=np.float64)
        gx, gy = np.meshgrid(xs, np.arange(self.rows, dtype=np.float64))
        self._pix = np.stack([gx.ravel(), gy.ravel(), np.ones(gx.size)])   # (3, S*S)
        lut = self.layer.look.lut  # (256, 1, 3) BGR tone curve
        self._lut = lambda gain: (lut(gain)[:, 0, :].astype(np.float64)
                                  @ np.array([0.114, 0.587, 0.299])).clip(0, 255)

    def transform(self, i: int, pts_ns: int) -> np.ndarray:
        """(3, 3) aligned px -> canonical px of base frame ``b`` (the frame its RBF field
        lives in) at frame ``i``; feeds the aligner, so call it for EVERY frame in order.

        The base video is placed by ONE fixed transform (its first frame's, as
        :class:`FaceLayer` places it), so the speaker's own head motion stays in the
        "image" and the aligner has to follow it, as in production."""
        b = self.layer.base_index(i)
        st = self.scene.state(i)
        to_image = self.camera @ head_motion(st.angle_deg, st.shift) @ self.to_canon[0]
        points = self.layer.base.landmarks[b].astype(np.float64)
        image_pts = points @ to_image[:2, :2].T + to_image[:2, 2]
        if self.point_sigma:
            image_pts = image_pts + self.rng.normal(0, self.point_sigma, image_pts.shape)
        face = self.aligner.align(0, self._dummy, Landmarks(MEDIAPIPE, image_pts, 1.0),
                                  pts_ns, 1.0)
        image_to_aligned = _h(face.transform.astype(np.float64))
        # aligned -> image -> base px -> canonical px of base frame b
        return self.to_canon[b] @ np.linalg.inv(to_image) @ np.linalg.inv(image_to_aligned)

    def render(self, i: int, aligned_to_canon: np.ndarray, expressions: bool = True
               ) -> np.ndarray:
        """uint8 (rows, S) gray aligned face of frame ``i`` (without its micro / macro
        expressions when ``expressions`` is False: what they alone change, for
        :mod:`lab.spotter.visibility`)."""
        layer, s, rows = self.layer, self.size, self.rows
        b = layer.base_index(i)
        q = (aligned_to_canon @ self._pix)[:2]                      # (2, S*S) canonical px
        disp = self.scene.control_displacement(i, expressions=expressions)
        if disp is not None:
            grid = layer.grid
            back = invert_field(layer.field(b).grid_field(disp), grid)
            gx = ((q[0] - grid.x0) / grid.step).astype(np.float32).reshape(rows, s)
            gy = ((q[1] - grid.y0) / grid.step).astype(np.float32).reshape(rows, s)
            bq = cv2.remap(back, gx, gy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            q = q - bq.reshape(-1, 2).T
        src = np.linalg.inv(self.to_canon[b])
        map_x = (src[0, 0] * q[0] + src[0, 1] * q[1] + src[0, 2]).astype(np.float32)
        map_y = (src[1, 0] * q[0] + src[1, 1] * q[1] + src[1, 2]).astype(np.float32)
        face = cv2.remap(layer.base.frames[b], map_x.reshape(rows, s), map_y.reshape(rows, s),
                         cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out = self._lut(self.scene.state(i).gain)[face]
        if self.pixel_sigma:
            out = out + self.rng.normal(0, self.pixel_sigma, out.shape)
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def tick_frames(total: int, fps: float, tick_ms: float = TICK_MS) -> list[int]:
    """The frame indices :class:`TickSampler` picks from ``total`` frames at ``fps``
    (sorted, unique), and frame 0 (its pts starts the tick grid): only these need
    rendering, and the sampler gives the same ticks from them as from all frames."""
    sampler = TickSampler(tick_ms)
    picked: list[int] = [0] if total else []
    for i in range(total):
        picked += [k for _, k in sampler.push(round(i * 1e9 / fps), i)]
    picked += [k for _, k in sampler.flush()]
    return sorted(set(picked))


def make_scene(job: CanonicalJob, bases: list[BaseFace]) -> SyntheticScene:
    """The job's scene (planning only: its frames are never rendered at 640x480)."""
    pool = [b for b in bases if job.faces is None or b.subject in job.faces]
    if job.plain:
        pool = [b for b in pool if not b.still]
    if not pool:
        raise ValueError(f"{job.name}: no base face among {job.faces}")
    # Sensor noise is added in the aligned frame (CanonicalRenderer), not at 640x480.
    dis = DistractorSpec(noise_sigma=0.0)
    if job.plain or not job.distractors:
        dis = DistractorSpec(blinks_per_minute=0.0, head_per_minute=0.0,
                             illumination_per_minute=0.0, speech_per_minute=0.0,
                             noise_sigma=0.0)
    spec = SceneSpec(seed=job.seed, fps=job.fps, width=64, height=64, seconds=job.seconds,
                     faces=list(pool), events_per_minute=0.0 if job.plain else
                     job.events_per_minute, distractors=dis,
                     script=None if job.script is None else list(job.script))
    return SyntheticScene(spec)


def render_job(job: CanonicalJob, bases: list[BaseFace]) -> dict[str, np.ndarray]:
    """The arrays of one canonical scene (the ``.npz`` content)."""
    scene = make_scene(job, bases)
    rng = np.random.default_rng([job.seed, CANONICAL_TAG])
    renderer = CanonicalRenderer(scene, job.align_size, job.stabilise, rng,
                                 noise=not job.plain or rng.random() < 0.5)
    total = scene.total or 0
    wanted = set(tick_frames(total, job.fps))
    faces, pts = [], []
    for i in range(total):
        p = scene.pts_ns(i)
        m = renderer.transform(i, p)
        if i in wanted:
            faces.append(face_input(renderer.render(i, m), INPUT_SIZE))
            pts.append(p)
    micro: list[tuple[int, int]] = []
    macro: list[tuple[int, int]] = []
    for e in scene.truth.events:
        if e.face == 0:
            (micro if e.kind == "micro" else macro).append(frame_span_ns(e.onset, e.offset, e.fps))
    return dict(
        faces=np.asarray(faces, np.uint8).reshape(-1, INPUT_SIZE, INPUT_SIZE),
        pts=np.asarray(pts, np.int64), tracks=np.zeros(len(pts), np.int32),
        micro=np.asarray(micro, np.int64).reshape(-1, 2),
        macro=np.asarray(macro, np.int64).reshape(-1, 2),
        video_ms=np.float64(total * 1000.0 / job.fps), fps=np.float64(job.fps),
        seed=np.int64(job.seed), align_size=np.int64(job.align_size),
        stabilise=np.str_(job.stabilise), generator=np.str_("canonical"),
        subject=np.str_(scene.layers[0].base.subject))


def cache_canonical(job: CanonicalJob, out: Path, bases: list[BaseFace] | None = None) -> Path:
    """Render and save one scene as ``out/<name>.npz``; skipped when the file exists."""
    path = out / f"{job.name}.npz"
    if path.exists():
        return path
    arrays = render_job(job, bases if bases is not None else load_bases())
    out.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.rename(path)
    return path


_BASES: list[BaseFace] | None = None


def _run(args: tuple[CanonicalJob, Path, Path]) -> str:
    global _BASES
    job, out, bases = args
    if _BASES is None:
        _BASES = load_bases(bases)
    t0 = time.monotonic()
    cache_canonical(job, out, _BASES)
    return f"{job.name} {time.monotonic() - t0:.1f}s"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("data/spotter/canonical"))
    ap.add_argument("--bases", type=Path, default=BASES,
                    help="the meshed base faces (made first when missing)")
    ap.add_argument("--set", action="append", default=[], choices=["train", "train2", "smoke"])
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--only", help="only the scenes whose name matches (fnmatch)")
    a = ap.parse_args(argv)
    if not a.bases.exists():
        print(f"meshing the base faces once -> {cache_bases(a.bases)}", flush=True)
    jobs = [(j, a.out, a.bases) for s in a.set for j in canonical_jobs(s)
            if a.only is None or fnmatch.fnmatch(j.name, a.only)]
    with Pool(a.workers) as pool:
        for line in pool.imap_unordered(_run, jobs):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
