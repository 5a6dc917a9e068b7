"""Alignment measurements for ``mestream bench``: jitter on a still face and on talking
faces, and frames/s of one worker.

Jitter is the temporal standard deviation of the aligned landmark positions, in
canonical pixels: for each landmark, ``sqrt(var_x + var_y)`` over the frames, then the
mean over landmarks. On a still image with fresh sensor noise in every frame, any
movement of the aligned landmarks is alignment noise.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from pipeline.faces.alignment import FaceAligner
from pipeline.faces.backend import open_backend
from pipeline.faces.canonical import MEDIAPIPE, STABLE_INDICES
from pipeline.faces.images import video_frames
from pipeline.faces.tracker import FaceTracker

MEDIA = Path(__file__).resolve().parents[2] / "configs" / "examples" / "media"
EYE_CORNERS = (33, 133, 362, 263)


def still_video(
    image: np.ndarray, frames: int, noise_sigma: float, seed: int = 0
) -> Iterator[np.ndarray]:
    """``image`` repeated with new Gaussian sensor noise in every frame."""
    rng = np.random.default_rng(seed)
    base = image.astype(np.float32)
    for _ in range(frames):
        yield np.clip(base + rng.normal(0, noise_sigma, base.shape), 0, 255).astype(np.uint8)


def astronaut_640x480() -> np.ndarray:
    """The bundled astronaut portrait resized to 480x480 and padded to 640x480."""
    img = cv2.imread(str(MEDIA / "astronaut.png"))
    if img is None:
        raise FileNotFoundError(MEDIA / "astronaut.png")
    return cv2.copyMakeBorder(
        cv2.resize(img, (480, 480), interpolation=cv2.INTER_AREA), 0, 0, 80, 80, cv2.BORDER_CONSTANT
    )


def jitter_px(points: np.ndarray) -> float:
    """Mean over landmarks of the temporal std of their (x, y) position; (T, N, 2)."""
    return float(np.sqrt(points.var(axis=0).sum(axis=-1)).mean())


def aligned_track(
    frames: Iterator[np.ndarray],
    fps: float,
    size: int = 128,
    stabilise: str = "one_euro",
    backend: str = "mediapipe",
    transforms: list[np.ndarray] | None = None,
) -> np.ndarray:
    """Aligned landmark positions (T, N, 2) of the first track over ``frames``; the
    transforms used are appended to ``transforms`` when given."""
    tracker = FaceTracker(open_backend(backend))
    aligner = FaceAligner(size=size, stabilise=stabilise)
    out = []
    try:
        for i, frame in enumerate(frames):
            pts = round(i * 1e9 / fps)
            tracks = tracker.update(frame, pts)
            if tracks:
                t = tracks[0]
                face = aligner.align(t.id, frame, t.landmarks, pts, t.det_score)
                out.append(face.points)
                if transforms is not None:
                    transforms.append(face.transform.astype(np.float64))
    finally:
        tracker.close()
    return np.asarray(out)


def still_jitter(
    seconds: float = 10.0, fps: float = 25.0, noise_sigma: float = 3.0, size: int = 128
) -> dict[str, float]:
    """On the still astronaut, with the default stabilisation and with none: the jitter
    of the aligned stable landmarks and of the 468 mesh points (what the issue's target
    names; it includes the landmark model's own noise, which no transform removes), and
    the transform jitter: how much fixed points of the (still) image move in the aligned
    face, i.e. how steady the aligned picture is."""
    image = astronaut_640x480()
    n = round(seconds * fps)
    result: dict[str, float] = {"frames": n}
    settle = round(fps)  # skip the first second: the filter settles
    for mode in ("one_euro", "none"):
        transforms: list[np.ndarray] = []
        frames = still_video(image, n, noise_sigma)
        pts = aligned_track(frames, fps, size, mode, transforms=transforms)
        pts, mats = pts[settle:], np.asarray(transforms[settle:])
        result[f"{mode}_stable"] = jitter_px(pts[:, list(STABLE_INDICES[MEDIAPIPE])])
        result[f"{mode}_mesh"] = jitter_px(pts[:, :468])
        # Fixed image points: the face's landmarks where they really are (the image is
        # still), mapped by every frame's transform.
        inverse = np.linalg.inv(np.vstack([mats[0], [0, 0, 1]]))[:2]
        fixed = pts[0, :468] @ inverse[:, :2].T + inverse[:, 2]
        moved = np.einsum("tij,nj->tni", mats[:, :, :2], fixed) + mats[:, None, :, 2]
        result[f"{mode}_transform"] = jitter_px(moved)
        result["found"] = len(pts) + settle
    return result


def talking_eye_corner_jitter(clips: list[Path], size: int = 128) -> dict[str, float]:
    """Per GRID clip (a person talking): the jitter of the aligned eye corners, which
    stay put on the face while the mouth moves. Median over clips."""
    values = {"one_euro": [], "none": []}
    for clip in clips:
        frames = video_frames(clip)
        for mode in values:
            pts = aligned_track(iter(frames), 25.0, size, mode)
            values[mode].append(jitter_px(pts[:, list(EYE_CORNERS)]))
    return {mode: statistics.median(v) for mode, v in values.items()} | {"clips": len(clips)}


def worker_fps(frames: list[np.ndarray], detect_every: int, repeats: int = 3) -> float:
    """Frames/s of one align worker (tracker + aligner, no sockets) over ``frames``;
    median of ``repeats`` passes, each with a fresh tracker."""
    rates = []
    backend = open_backend("mediapipe")
    for _ in range(repeats):
        tracker = FaceTracker(backend, detect_every=detect_every)
        aligner = FaceAligner()
        t0 = time.perf_counter()
        for i, frame in enumerate(frames):
            pts = i * 40_000_000
            for t in tracker.update(frame, pts):
                aligner.align(t.id, frame, t.landmarks, pts, t.det_score)
        rates.append(len(frames) / (time.perf_counter() - t0))
        tracker.close()
    return statistics.median(rates)
