"""Warp each tracked face into the canonical frame without adding jitter.

Per track, per frame:

1. fit a similarity from the stable landmarks (eye corners, nose) to their canonical places;
2. stabilise ONLY that rigid transform over time (1 euro filter, or hold an anchor frame's
   transform), never the landmarks themselves, so 1-3 px local motion of the brows or mouth
   reaches the aligned image untouched;
3. warp the frame (bilinear, replicated border) to the S x S face and cut the eyes and mouth
   regions, each resized to R x R gray with INTER_AREA as MicroExpFuseNet does.

>>> import numpy as np
>>> from pipeline.faces.canonical import ARCFACE_112, canonical_stable
>>> from pipeline.faces.types import Landmarks
>>> aligner = FaceAligner(size=112, stabilise="none")
>>> image = np.zeros((112, 112, 3), np.uint8)
>>> # a face whose eyes and nose already sit in their canonical places
>>> points = np.vstack([canonical_stable("retinaface5", 112), ARCFACE_112[3:]])
>>> face = aligner.align(0, image, Landmarks("retinaface5", points, 1.0), 0, 1.0)
>>> face.face.shape, face.eyes.shape, np.allclose(face.transform, [[1, 0, 0], [0, 1, 0]])
((112, 112, 3), (32, 32), True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.faces.canonical import (
    EYES_BOX,
    MOUTH_BOX,
    box_pixels,
    raw_transform,
    stable_points,
)
from pipeline.faces.images import to_bgr
from pipeline.faces.one_euro import OneEuroFilter
from pipeline.faces.quality import head_pose, sharpness
from pipeline.faces.similarity import (
    apply_transform,
    params_to_similarity,
    similarity_to_params,
)
from pipeline.faces.types import AlignedFace, FaceQuality, Landmarks

STABILISE_MODES = ("one_euro", "hold", "none")


@dataclass(slots=True)
class _TrackState:
    """What the aligner remembers about one track."""

    filter: OneEuroFilter
    unit: float
    """Canonical px per image px when the track started: turns the face centre's image
    position into canonical px, so all four filtered numbers share one unit."""
    last_angle: float
    anchor: np.ndarray | None = None
    """Hold mode: the transform in use (float64 (2, 3))."""
    anchor_pts_ns: int = 0
    anchor_points: np.ndarray | None = None
    """Hold mode: the stable points in canonical px in the anchor frame."""


class FaceAligner:
    """Aligns faces, one temporal state per track id.

    ``stabilise``:

    - ``"one_euro"`` (default): a 1 euro filter on (face centre, log scale, angle), all in
      canonical pixels (log scale and angle times S/2, i.e. the motion they cause at the face
      edge). Defaults ``min_cutoff_hz=0.3``, ``beta=0.3``, ``d_cutoff_hz=1``, chosen on
      measurements at S=128, 25 fps: on a still face with sensor noise (astronaut,
      MediaPipe, tests/pipeline/faces/test_stabilisation.py) the transform jitter is about
      0.02 px against 0.08 px unfiltered; a 6 px step of the head is followed to within
      0.1 px after 2 frames, and a head moving at 40 canonical px/s lags by about 0.4 px
      (with beta=0.1: 4 frames and 1 px; with min_cutoff_hz=1, beta=0.05: 0.02 px jitter
      but 1.3 px lag). A jump larger than S/8 (a re-acquired face) resets the filter
      instead of gliding.
    - ``"hold"``: keep the transform of an anchor frame, the way ME datasets align a whole
      clip to its first frame, until ``hold_ms`` of pts have passed or the stable points,
      mapped by the held transform, have moved more than ``max_drift_px`` (canonical px,
      mean over the points) from where they were in the anchor frame (the head moved); then
      the current frame becomes the anchor. Within a hold the transform is bit-identical.
    - ``"none"``: each frame's own fit.
    """

    def __init__(
        self,
        size: int = 128,
        region_size: int = 32,
        stabilise: str = "one_euro",
        min_cutoff_hz: float = 0.3,
        beta: float = 0.3,
        d_cutoff_hz: float = 1.0,
        hold_ms: float = 2000.0,
        max_drift_px: float = 1.0,
    ):
        if stabilise not in STABILISE_MODES:
            raise ValueError(
                f"unknown stabilise mode {stabilise!r}; expected one of "
                f"{', '.join(STABILISE_MODES)}"
            )
        if size < 16 or region_size < 4:
            raise ValueError(f"size must be >= 16 and region_size >= 4, got {size}, {region_size}")
        self.size = size
        self.region_size = region_size
        self.stabilise = stabilise
        self.min_cutoff_hz = min_cutoff_hz
        self.beta = beta
        self.d_cutoff_hz = d_cutoff_hz
        self.hold_ms = hold_ms
        self.max_drift_px = max_drift_px
        self._pivot = (size / 2.0, size / 2.0)
        self._tracks: dict[int, _TrackState] = {}
        # One warp fills a canvas covering the face square and both regions (the mouth box
        # reaches below the face square); the face and regions are slices of it.
        boxes = [box_pixels(EYES_BOX, size), box_pixels(MOUTH_BOX, size), (0, 0, size, size)]
        self._canvas_origin = (min(b[0] for b in boxes), min(b[1] for b in boxes))
        self._canvas_size = (
            max(b[2] for b in boxes) - self._canvas_origin[0],
            max(b[3] for b in boxes) - self._canvas_origin[1],
        )
        self._eyes_px = box_pixels(EYES_BOX, size)
        self._mouth_px = box_pixels(MOUTH_BOX, size)

    def forget(self, track_id: int) -> None:
        """Drop a track's temporal state (call when the track ends)."""
        self._tracks.pop(track_id, None)

    def align(
        self, track_id: int, image: np.ndarray, landmarks: Landmarks, pts_ns: int, score: float
    ) -> AlignedFace:
        """The aligned face of ``landmarks`` in ``image`` (uint8 BGR or gray) at ``pts_ns``."""
        raw = raw_transform(landmarks.scheme, landmarks.points, self.size)
        transform, anchor_pts_ns = self._stabilised(track_id, raw, landmarks, pts_ns)
        face, gray, eyes, mouth = self._warp(to_bgr(image), transform)
        yaw, pitch, roll = head_pose(landmarks)
        quality = FaceQuality(
            score=float(score), yaw_deg=yaw, pitch_deg=pitch, roll_deg=roll, blur=sharpness(gray)
        )
        return AlignedFace(
            transform=transform.astype(np.float32),
            anchor_pts_ns=anchor_pts_ns,
            face=face,
            gray=gray,
            eyes=eyes,
            mouth=mouth,
            points=apply_transform(transform, landmarks.points).astype(np.float32),
            quality=quality,
        )

    def _stabilised(
        self, track_id: int, raw: np.ndarray, landmarks: Landmarks, pts_ns: int
    ) -> tuple[np.ndarray, int]:
        if self.stabilise == "none":
            return raw, pts_ns
        params = similarity_to_params(raw, self._pivot)
        state = self._tracks.get(track_id)
        if state is None:
            state = _TrackState(
                filter=OneEuroFilter(self.min_cutoff_hz, self.beta, self.d_cutoff_hz),
                unit=math.exp(params[2]),
                last_angle=float(params[3]),
            )
            self._tracks[track_id] = state
        if self.stabilise == "hold":
            return self._held(state, raw, landmarks, pts_ns)
        # Keep the angle continuous (no jump from +pi to -pi) before filtering it.
        params[3] = state.last_angle + math.remainder(params[3] - state.last_angle, 2 * math.pi)
        half = self.size / 2.0
        scales = np.array([state.unit, state.unit, half, half])
        vector = params * scales
        previous = state.filter.last
        if previous is not None and np.abs(vector - previous).max() > self.size / 8.0:
            state.filter.reset()
        smoothed = state.filter(vector, pts_ns * 1e-9) / scales
        state.last_angle = float(smoothed[3])
        return params_to_similarity(smoothed, self._pivot), pts_ns

    def _held(
        self, state: _TrackState, raw: np.ndarray, landmarks: Landmarks, pts_ns: int
    ) -> tuple[np.ndarray, int]:
        stable = stable_points(landmarks.scheme, landmarks.points)
        if state.anchor is not None and state.anchor_points is not None:
            held_for_ms = (pts_ns - state.anchor_pts_ns) / 1e6
            drift = np.linalg.norm(
                apply_transform(state.anchor, stable) - state.anchor_points, axis=1
            ).mean()
            if 0 <= held_for_ms < self.hold_ms and drift <= self.max_drift_px:
                return state.anchor, state.anchor_pts_ns
        state.anchor = raw
        state.anchor_pts_ns = pts_ns
        state.anchor_points = apply_transform(raw, stable)
        return raw, pts_ns

    def _warp(
        self, image: np.ndarray, transform: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        ox, oy = self._canvas_origin
        to_canvas = transform.copy()
        to_canvas[:, 2] -= (ox, oy)
        canvas = cv2.warpAffine(
            image,
            to_canvas,
            self._canvas_size,
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        canvas_gray = cv2.cvtColor(canvas, cv2.COLOR_BGR2GRAY)
        s = self.size
        face = np.ascontiguousarray(canvas[-oy : s - oy, -ox : s - ox])
        gray = np.ascontiguousarray(canvas_gray[-oy : s - oy, -ox : s - ox])
        return (
            face,
            gray,
            self._region(canvas_gray, self._eyes_px),
            self._region(canvas_gray, self._mouth_px),
        )

    def _region(self, canvas_gray: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        ox, oy = self._canvas_origin
        x0, y0, x1, y1 = box
        crop = canvas_gray[y0 - oy : y1 - oy, x0 - ox : x1 - ox]
        r = self.region_size
        return cv2.resize(crop, (r, r), interpolation=cv2.INTER_AREA)
