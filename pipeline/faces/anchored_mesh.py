"""The fast mesh: the plain 468-point model on every frame, anchored to the refined mesh.

The refined mesh (MediaPipe's graph, 478 points) costs about 3.5 ms of CPU a frame here; the
plain model run directly (:mod:`pipeline.faces.litert_mesh`) about 1.7 ms. But the two
models place the same face's points a little differently (0.4-0.8 px at 128 px on average
over GRID, and differently per face), and the bundled spotter was trained on crops aligned
by the refined mesh: aligned by the plain one, its test6 F1 fell from 0.87 to 0.73 even
with the average offset calibrated out. The offset is mostly a property of the face, so
this landmarker measures it per track: every ``refresh_every`` frames (and on a track's
first) it runs the refined mesh as well and keeps, per point, the refined minus the plain
position in the plain model's own input frame (its held, rotation-normalised region), a
running average (weight ``blend`` for the newest); on every frame it adds that offset to
the plain model's points. The result is in the refined mesh's places, scheme
``mediapipe478``; the 10 iris points are the last refined call's, carried in the same
frame (nothing at run time reads them: alignment uses eye corners and the nose bridge).

Measured (SYNTHETIC scenes, 30 fps x 30 s, scored by the bundled learned spotter; the
table and the variants are in lab/alignment/README.md): refined on every frame test5 / test6
F1 0.862 / 0.869 (pooled 113/25/10, 0.866); anchored every 30 frames with a running offset
(``blend`` 0.2) 0.864 / 0.900 (pooled 114/21/9, 0.884). ``blend`` 0.5 stepped the points
at each refresh (on a still face 0.25 px std against 0.09 refined, 0.12 with 0.2) and gave
0.856 pooled. test5 and test6 chose among those variants; on test7 (fresh seeds, scored
once after the choice) it did NOT hold: refined 0.923 (66/9/2), fast 0.841 (61/16/7). So
the shipped default stays ``refined``; the fast mesh is for a spotter trained on it.
"""

from __future__ import annotations

import math

import numpy as np

from pipeline.faces.canonical import MEDIAPIPE
from pipeline.faces.litert_mesh import LiteRTMeshLandmarker
from pipeline.faces.types import Landmarks


class AnchoredMeshLandmarker:
    """The plain mesh every frame plus a per-face offset to the refined mesh, refreshed
    every ``refresh_every`` frames. ``refined`` makes the refined landmarker (a
    :class:`~pipeline.faces.mediapipe_backend.MediaPipeLandmarker`)."""

    scheme = MEDIAPIPE

    def __init__(self, refined, refresh_every: int = 30, blend: float = 0.2):
        if refresh_every < 1:
            raise ValueError(f"refresh_every must be >= 1, got {refresh_every}")
        self._plain = LiteRTMeshLandmarker()
        self._refined = refined
        self.refresh_every = refresh_every
        self.blend = blend
        self._frames = 0
        self._offset: np.ndarray | None = None   # (468, 2) in the plain model's input px
        self._irises: np.ndarray | None = None   # (10, 2) likewise
        self.refined_calls = 0

    def locate(self, image: np.ndarray, box: np.ndarray) -> Landmarks | None:
        plain = self._plain.locate(image, box)
        if plain is None:
            self._offset = self._irises = None
            self._frames = 0
            return None
        region = self._plain.region
        to_input, to_image = region.to_input, region.to_image
        points = plain.points.astype(np.float64) @ to_input[:, :2].T + to_input[:, 2]
        if self._offset is None or self._frames % self.refresh_every == 0:
            self._refresh(image, box, points, to_input)
        self._frames += 1
        if self._offset is None:   # the refined mesh has not found this face yet
            return None
        full = np.concatenate([points + self._offset, self._irises])
        full = full @ to_image[:, :2].T + to_image[:, 2]
        return Landmarks(scheme=MEDIAPIPE, points=full.astype(np.float32), score=math.nan)

    def _refresh(self, image: np.ndarray, box: np.ndarray, points: np.ndarray,
                 to_input: np.ndarray) -> None:
        refined = self._refined.locate(image, box)
        self.refined_calls += 1
        if refined is None:
            return
        placed = refined.points.astype(np.float64) @ to_input[:, :2].T + to_input[:, 2]
        offset = placed[:468] - points
        if self._offset is None:
            self._offset = offset
        else:
            self._offset = (1.0 - self.blend) * self._offset + self.blend * offset
        self._irises = placed[468:]

    def close(self) -> None:
        self._plain.close()
        self._refined.close()
