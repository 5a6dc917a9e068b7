"""The canonical face frame that every aligned face is warped into, for both backends.

The frame is the ArcFace 5-point template (Deng et al., the 112 x 112 crop used by
insightface), normalised to [0, 1] and scaled to the output size ``S`` (128 by default, 64
for STCNN): canonical pixel = normalised coordinate * S. Because MediaPipe and RetinaFace
faces are both fitted to this one frame, they give the same aligned crop.

Only STABLE landmarks define the transform: eye corners and the nose (bridge and tip). The
mouth is never used (it moves during expressions, and a transform that follows it would
cancel the very motion we want to see), nor the irises (they move with gaze).

- ``retinaface5``: its eyes and nose (0, 1, 2) go to where RetinaFace puts them in the
  MediaPipe-derived frame (calibrated on GRID), so both backends give the same crop.
- ``mediapipe478``: the canonical places of its stable points were derived once from the
  825 frames of the GRID clips (10 speakers) with :func:`fit_template` and are hard-coded
  below, so the runtime needs no data. Regenerate them with::

      .venv/bin/python -m pipeline.faces.canonical ../shared/data/real/grid/*.mpg

>>> import numpy as np
>>> canonical_stable("retinaface5", 112).round(2).tolist()[0]
[36.87, 49.07]
"""

from __future__ import annotations

import sys

import numpy as np

from pipeline.faces.similarity import apply_transform, estimate_similarity

MEDIAPIPE = "mediapipe478"
MEDIAPIPE468 = "mediapipe468"
"""The same mesh without the 10 iris points (the plain model, see
:mod:`pipeline.faces.litert_mesh`): indices 0-467 mean the same points."""
RETINAFACE = "retinaface5"
SCHEMES = (MEDIAPIPE, MEDIAPIPE468, RETINAFACE)

ARCFACE_112 = np.array(
    [
        [38.2946, 51.6963],  # image-left eye (the subject's right eye)
        [73.5318, 51.5014],  # image-right eye
        [56.0252, 71.7366],  # nose tip
        [41.5493, 92.3655],  # image-left mouth corner
        [70.7299, 92.2041],  # image-right mouth corner
    ]
)
"""The standard ArcFace template in pixels of a 112 x 112 crop."""
ARCFACE = ARCFACE_112 / 112.0
"""The ArcFace template, normalised to [0, 1]."""

SEMANTIC5: dict[str, tuple[tuple[int, ...], ...]] = {
    # image-left eye centre, image-right eye centre, nose tip, mouth left, mouth right;
    # each entry is a group of indices whose mean is the point.
    MEDIAPIPE: ((33, 133), (362, 263), (1,), (61,), (291,)),
    RETINAFACE: ((0,), (1,), (2,), (3,), (4,)),
}
SEMANTIC5[MEDIAPIPE468] = SEMANTIC5[MEDIAPIPE]
"""Per scheme, the landmark index groups of the 5 semantic points, image-left first."""

STABLE_INDICES: dict[str, tuple[int, ...]] = {
    # Eye corners (outer, inner, inner, outer) and the nose bridge, top to bottom. Not the
    # nose tip (1, 4): the mesh model moves it with the mouth. A synthetic 2 px push of only
    # the astronaut's mouth moved the transform by 0.46 px with the tip, 0.22 px without.
    MEDIAPIPE: (33, 133, 362, 263, 168, 6, 197, 195),
    RETINAFACE: (0, 1, 2),
}
STABLE_INDICES[MEDIAPIPE468] = STABLE_INDICES[MEDIAPIPE]
"""Per scheme, the landmarks that define the alignment transform."""

# Derived by fit_template from 825 GRID frames (see the module docstring). The mean face's
# semantic points then sit at (x112): eyes (38.4, 50.8) and (73.2, 50.7), nose (56.2, 73.7),
# mouth (42.7, 92.2) and (69.6, 92.2), within 2 px of ArcFace's.
_MEDIAPIPE_STABLE = np.array(
    [
        [0.2726, 0.4500],  # 33 image-left eye, outer corner
        [0.4127, 0.4565],  # 133 image-left eye, inner corner
        [0.5838, 0.4571],  # 362 image-right eye, inner corner
        [0.7236, 0.4481],  # 263 image-right eye, outer corner
        [0.4999, 0.4265],  # 168 nose bridge, between the eyes
        [0.5005, 0.4658],  # 6
        [0.5009, 0.5030],  # 197
        [0.5013, 0.5381],  # 195
    ]
)

# RetinaFace's eyes and nose, calibrated into the same frame: where they sit, on average
# over the GRID frames, once each frame is aligned by MediaPipe's stable points. With the
# plain ArcFace points instead, RetinaFace crops came out ~5 % smaller and ~3 px higher
# (its eye points lie above the eye-corner line); calibrated, both backends give the
# same crop.
_RETINAFACE_STABLE = np.array(
    [
        [0.3292, 0.4381],  # image-left eye
        [0.6603, 0.4382],  # image-right eye
        [0.4931, 0.6248],  # nose tip
    ]
)

# The plain mesh's stable points, calibrated into the same frame the same way: where they
# sit, on average over the 825 GRID frames, once each frame is aligned by the refined
# mesh's (0.4-0.8 px at 128 px from the refined places; the spread per frame is 0.74 px).
# Aligned with the refined places instead, the bundled spotter's test6 F1 fell 0.87 -> 0.65:
# it was trained on the refined mesh's crops, and a sub-pixel offset of the whole face is
# what it reads.
_MEDIAPIPE468_STABLE = np.array(
    [
        [0.2724, 0.4465],
        [0.4109, 0.4538],
        [0.5893, 0.4536],
        [0.7301, 0.4455],
        [0.4986, 0.4239],
        [0.4985, 0.4630],
        [0.4985, 0.5005],
        [0.4984, 0.5360],
    ]
)

STABLE_CANONICAL: dict[str, np.ndarray] = {
    MEDIAPIPE: _MEDIAPIPE_STABLE,
    MEDIAPIPE468: _MEDIAPIPE468_STABLE,
    RETINAFACE: _RETINAFACE_STABLE,
}
"""Per scheme, the normalised canonical places of ``STABLE_INDICES`` (same order)."""

# The region boxes were read off the same 825 GRID frames, in canonical coordinates:
# brows (MediaPipe 46..300) span x 0.19..0.80, y >= 0.30; eye points (33, 133, 159, 145, 362,
# 263, 386, 374) x 0.26..0.74, y 0.41..0.48; the cheeks at eye level (234, 454) x 0.11..0.90;
# nose bottom (2) y 0.67..0.71; mouth points (61, 291, 0, 17) x 0.36..0.66, y 0.74..1.00
# (1.00 = lower lip of a wide-open mouth mid-word); jaw (172, 397, 136, 365) y <= 0.99.
EYES_BOX = (0.10, 0.25, 0.90, 0.55)
"""Normalised canonical (x0, y0, x1, y1) of the eyes region: from above the brows to below
the eyes, spanning both eyes (MicroExpFuseNet's iBUG rows y[19]:y[1], cols x[1]:x[15])."""
MOUTH_BOX = (0.15, 0.66, 0.85, 1.06)
"""Normalised canonical (x0, y0, x1, y1) of the lower face around the mouth, from the nose
bottom to below the lower lip (MicroExpFuseNet's iBUG rows y[2]:y[6], cols x[2]:x[14]). It
reaches past the bottom of the S x S face (y > 1): the ArcFace frame cuts the chin off, and
the aligner warps regions straight from the image, so that costs nothing."""


def check_scheme(scheme: str) -> None:
    """Raise ValueError for a scheme this module does not know."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown landmark scheme {scheme!r}; expected one of {SCHEMES}")


def semantic_points(scheme: str, points: np.ndarray) -> np.ndarray:
    """The 5 semantic points (eyes, nose tip, mouth corners; image-left first), float64."""
    check_scheme(scheme)
    pts = np.asarray(points, dtype=np.float64)
    return np.array([pts[list(group)].mean(axis=0) for group in SEMANTIC5[scheme]])


def stable_points(scheme: str, points: np.ndarray) -> np.ndarray:
    """The landmarks that define the alignment, float64 (n, 2)."""
    check_scheme(scheme)
    return np.asarray(points, dtype=np.float64)[list(STABLE_INDICES[scheme])]


def canonical_stable(scheme: str, size: int) -> np.ndarray:
    """Where the stable landmarks belong in an aligned ``size x size`` face, float64 (n, 2)."""
    check_scheme(scheme)
    return STABLE_CANONICAL[scheme] * float(size)


def box_pixels(box: tuple[float, float, float, float], size: int) -> tuple[int, int, int, int]:
    """A normalised box as integer canonical pixel bounds (x0, y0, x1, y1) for face size
    ``size``; not clipped, a region may reach outside the S x S face."""
    x0, y0, x1, y1 = (round(v * size) for v in box)
    return x0, y0, x1, y1


def face_box(scheme: str, points: np.ndarray) -> np.ndarray:
    """The image box (float32 x0, y0, x1, y1) around the canonical face square [0, 1]^2.

    Both backends' landmarks give the same box for the same face (a 5-point and a 478-point
    extent would not), so it serves to match detections to tracks and to place crops.
    """
    to_image = estimate_similarity(canonical_stable(scheme, 1), stable_points(scheme, points))
    corners = apply_transform(to_image, np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1, 1]]))
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    return np.array([lo[0], lo[1], hi[0], hi[1]], dtype=np.float32)


def raw_transform(scheme: str, points: np.ndarray, size: int) -> np.ndarray:
    """The similarity (float64 (2, 3)) taking image pixels to canonical pixels, fitted to the
    stable landmarks of one frame, before any temporal smoothing."""
    return estimate_similarity(stable_points(scheme, points), canonical_stable(scheme, size))


def fit_template(points_per_frame: np.ndarray, iterations: int = 20) -> np.ndarray:
    """Derive the canonical mean face from many MediaPipe meshes, normalised (478, 2).

    1. Generalised Procrustes alignment (similarity) of the stable points: each frame is
       fitted to the current mean, the mean is re-estimated, repeat; the whole mesh of each
       frame is carried along, so the result is a mean of all 478 points in one frame.
    2. The mean face's 5 semantic points are similarity-fitted onto the ArcFace template,
       which puts the mean face in the canonical frame.
    ``STABLE_CANONICAL[MEDIAPIPE]`` is the result's rows ``STABLE_INDICES[MEDIAPIPE]``.
    """
    pts = np.asarray(points_per_frame, dtype=np.float64)
    idx = list(STABLE_INDICES[MEDIAPIPE])
    reference = pts[0, idx]
    aligned = pts
    for _ in range(iterations):
        aligned = np.stack(
            [apply_transform(estimate_similarity(p[idx], reference), p) for p in pts]
        )
        mean = aligned[:, idx].mean(axis=0)
        # Pin the mean's position, scale and angle to the first reference so GPA converges
        # instead of drifting or shrinking.
        mean = apply_transform(estimate_similarity(mean, reference), mean)
        if np.abs(mean - reference).max() < 1e-6:
            break
        reference = mean
    mean_face = aligned.mean(axis=0)
    to_canonical = estimate_similarity(semantic_points(MEDIAPIPE, mean_face), ARCFACE)
    return apply_transform(to_canonical, mean_face)


def _mesh_points_of_clips(paths: list[str]) -> np.ndarray:
    """Run the MediaPipe mesh (video mode) on every frame of each clip; (F, 478, 2)."""
    import cv2
    import mediapipe as mp

    frames: list[np.ndarray] = []
    for path in paths:
        capture = cv2.VideoCapture(path)
        with mp.solutions.face_mesh.FaceMesh(
            static_image_mode=False, max_num_faces=1, refine_landmarks=True
        ) as mesh:
            while True:
                ok, image = capture.read()
                if not ok:
                    break
                h, w = image.shape[:2]
                result = mesh.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
                if not result.multi_face_landmarks:
                    continue
                marks = result.multi_face_landmarks[0].landmark
                frames.append(np.array([[m.x * w, m.y * h] for m in marks]))
        capture.release()
    return np.stack(frames)


def main(argv: list[str]) -> None:
    """Print the ``_MEDIAPIPE_STABLE`` constants derived from the given clips."""
    meshes = _mesh_points_of_clips(argv)
    template = fit_template(meshes)
    print(f"# {len(meshes)} frames of {len(argv)} clips")
    indices = STABLE_INDICES[MEDIAPIPE]
    for i, (x, y) in zip(indices, template[list(indices)], strict=True):
        print(f"        [{x:.4f}, {y:.4f}],  # {i}")


if __name__ == "__main__":
    main(sys.argv[1:])
