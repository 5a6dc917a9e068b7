"""2-D similarity transforms (rotation, uniform scale, translation): fit and parametrise.

A similarity is stored as a (2, 3) matrix ``M`` that maps ``p -> M[:, :2] @ p + M[:, 2]``,
the layout ``cv2.warpAffine`` takes.

>>> import numpy as np
>>> src = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
>>> m = estimate_similarity(src, 2 * src + 5)
>>> (np.round(m, 6) + 0.0).tolist()
[[2.0, 0.0, 5.0], [0.0, 2.0, 5.0]]
"""

from __future__ import annotations

import math

import numpy as np


def estimate_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity mapping ``src`` (N, 2) onto ``dst`` (N, 2), N >= 2.

    Umeyama (1991) restricted to 2-D with no reflection: the closed form is exact, has no
    iterations or random sampling (unlike ``cv2.estimateAffinePartial2D``'s RANSAC), so the
    same points always give the same transform. Returns float64 (2, 3).
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"need two matching (N>=2, 2) arrays, got {src.shape} and {dst.shape}")
    src_mean = src.mean(axis=0)
    dst_mean = dst.mean(axis=0)
    s = src - src_mean
    d = dst - dst_mean
    # With complex numbers z = x + iy a 2-D similarity is z -> a*z + b; the least-squares
    # a is sum(conj(s) * d) / sum(|s|^2). No reflection is possible by construction.
    zs = s[:, 0] + 1j * s[:, 1]
    zd = d[:, 0] + 1j * d[:, 1]
    denom = float(np.sum(np.abs(zs) ** 2))
    if denom <= 0.0:
        raise ValueError("source points are all identical")
    a = complex(np.sum(np.conj(zs) * zd) / denom)
    rot = np.array([[a.real, -a.imag], [a.imag, a.real]])
    t = dst_mean - rot @ src_mean
    return np.hstack([rot, t[:, None]])


def apply_transform(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map (N, 2) points through a (2, 3) transform; float64 result."""
    pts = np.asarray(points, dtype=np.float64)
    m = np.asarray(matrix, dtype=np.float64)
    return pts @ m[:, :2].T + m[:, 2]


def invert_similarity(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a (2, 3) similarity (or any invertible affine), float64 (2, 3)."""
    m = np.asarray(matrix, dtype=np.float64)
    inv = np.linalg.inv(m[:, :2])
    return np.hstack([inv, (-inv @ m[:, 2])[:, None]])


def similarity_to_params(matrix: np.ndarray, pivot: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """(x, y, log_scale, angle) of a similarity, float64 (4,).

    ``(x, y)`` is the point that the transform maps onto ``pivot``; with the default pivot
    (0, 0) that is where the destination origin comes from. Smoothing a face transform works
    best with the pivot at the centre of the canonical face: then (x, y) is where the face
    centre is in the image and does not swing when the angle or scale is noisy, as the plain
    translation column of the matrix would (it couples rotation about the image origin).
    ``angle`` is in radians, counter-clockwise in (x, y) coordinates.

    >>> import numpy as np
    >>> m = params_to_similarity(np.array([10.0, 20.0, np.log(2.0), 0.1]), pivot=(64, 64))
    >>> np.allclose(similarity_to_params(m, pivot=(64, 64)), [10, 20, np.log(2), 0.1])
    True
    """
    m = np.asarray(matrix, dtype=np.float64)
    scale = math.hypot(m[0, 0], m[1, 0])
    angle = math.atan2(m[1, 0], m[0, 0])
    origin = apply_transform(invert_similarity(m), np.array([pivot], dtype=np.float64))[0]
    return np.array([origin[0], origin[1], math.log(scale), angle])


def params_to_similarity(params: np.ndarray, pivot: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Inverse of :func:`similarity_to_params`: float64 (2, 3)."""
    x, y, log_scale, angle = (float(v) for v in params)
    scale = math.exp(log_scale)
    c, s = scale * math.cos(angle), scale * math.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    t = np.asarray(pivot, dtype=np.float64) - rot @ np.array([x, y])
    return np.hstack([rot, t[:, None]])
