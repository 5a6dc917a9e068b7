"""The small records the face library passes around: detections, landmarks, aligned faces.

All coordinates are ``(x, y)`` in pixels, ``float32``; boxes are ``(x0, y0, x1, y1)``.
"Image pixels" are pixels of the frame as captured, "canonical pixels" are pixels of the
aligned ``S x S`` face (see :mod:`pipeline.faces.canonical`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(slots=True)
class Detection:
    """One face found by a detector on a whole frame."""

    box: np.ndarray
    """float32 (4,): x0, y0, x1, y1 in image pixels."""
    score: float
    """Detector confidence, 0..1."""
    keypoints: np.ndarray
    """float32 (K, 2) in image pixels (MediaPipe: 6, RetinaFace: 5)."""


@dataclass(slots=True)
class Landmarks:
    """The landmarks of one face in one frame."""

    scheme: str
    """Which points these are: ``"mediapipe478"`` or ``"retinaface5"``."""
    points: np.ndarray
    """float32 (N, 2) in image pixels (N = 478 or 5)."""
    score: float
    """Confidence 0..1. NaN from a landmarker whose model gives none (MediaPipe's mesh);
    :class:`~pipeline.faces.tracker.FaceTracker` then fills in the score of the track's last
    detection."""


@dataclass(slots=True)
class FaceQuality:
    """How usable an aligned face is."""

    score: float
    """Detection score."""
    yaw_deg: float
    """Rough head yaw, positive when the nose points to image-right."""
    pitch_deg: float
    """Rough head pitch, positive when the face tilts down."""
    roll_deg: float
    """Head roll from the eye line, positive when the image-right eye is lower."""
    blur: float
    """Variance of the Laplacian of the aligned gray face (higher = sharper)."""


@dataclass(slots=True)
class AlignedFace:
    """A face warped into the canonical frame, plus the eye and mouth regions."""

    transform: np.ndarray
    """float32 (2, 3): image pixels -> canonical pixels, the one actually used (after
    smoothing or hold)."""
    anchor_pts_ns: int
    """pts of the frame whose transform is in use (this frame's pts unless held)."""
    face: np.ndarray
    """uint8 (S, S, 3) BGR aligned face."""
    gray: np.ndarray
    """uint8 (S, S) the aligned face in gray."""
    eyes: np.ndarray
    """uint8 (R, R) gray crop spanning both eyes and brows (MicroExpFuseNet "eyes")."""
    mouth: np.ndarray
    """uint8 (R, R) gray crop of the lower face around the mouth."""
    points: np.ndarray
    """float32 (N, 2) the landmarks in canonical pixels."""
    quality: FaceQuality
