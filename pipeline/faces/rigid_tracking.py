"""Follow a face's rigid motion between landmark-model frames, at a tenth of its cost.

The face mesh is most of the align stage's CPU (about 4 ms a face a frame here). With
``tracking.landmark_every: k`` it runs on every k-th frame only; on the frames between,
this module carries the last landmarks along with the head: corner features near the
stable landmarks (eye corners, nose bridge: the points that define the alignment, never
the mouth or brows) are followed by pyramidal Lucas-Kanade flow from the previous frame,
checked forward-backward, and the similarity transform they moved by is applied to
every landmark. When too few features follow (occlusion, blur, a turn), the caller runs
the mesh instead (:class:`~pipeline.faces.tracker.FaceTracker`). Non-rigid motion is not
followed between mesh frames, which is what alignment wants: the transform comes from
stable points only, and micro-expression motion must stay in the aligned face.
"""

from __future__ import annotations

import cv2
import numpy as np

from pipeline.faces.canonical import stable_points
from pipeline.faces.similarity import estimate_similarity
from pipeline.faces.types import Landmarks

FEATURES_PER_POINT = 3
MIN_TRACKED = 0.6  # of the features: fewer means the mesh must look again
MAX_FB_ERROR_PX = 0.5  # forward-backward disagreement that disqualifies a feature
_LK = {"winSize": (15, 15), "maxLevel": 2,
       "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03)}


def to_gray(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def _features(gray: np.ndarray, landmarks: Landmarks) -> np.ndarray:
    """float32 (N, 1, 2): corners near each stable landmark (its own place when the
    patch has none), image pixels."""
    pts = stable_points(landmarks.scheme, landmarks.points)
    eyes = np.linalg.norm(pts[0] - pts[3]) if len(pts) >= 4 else 40.0
    radius = max(4, int(round(0.08 * eyes)))
    h, w = gray.shape[:2]
    out = []
    for x, y in pts:
        x0, y0 = max(0, int(x) - radius), max(0, int(y) - radius)
        x1, y1 = min(w, int(x) + radius + 1), min(h, int(y) + radius + 1)
        found = None
        if x1 - x0 > 4 and y1 - y0 > 4:
            found = cv2.goodFeaturesToTrack(gray[y0:y1, x0:x1], FEATURES_PER_POINT, 0.01, 3)
        if found is None:
            out.append([[x, y]])
        else:
            out.extend((found + np.array([x0, y0], np.float32)).tolist())
    return np.asarray(out, np.float32).reshape(-1, 1, 2)


class RigidFollower:
    """Carries one track's landmarks from frame to frame by its stable features' motion."""

    def __init__(self) -> None:
        self._features: np.ndarray | None = None
        self._gray: np.ndarray | None = None

    def reset(self, gray: np.ndarray, landmarks: Landmarks) -> None:
        """The mesh just located the face in ``gray``: follow from here."""
        self._gray = gray
        self._features = _features(gray, landmarks)

    def follow(self, gray: np.ndarray, landmarks: Landmarks) -> Landmarks | None:
        """``landmarks`` (of the previous frame) moved to ``gray``, or None when too few
        features followed (the mesh must locate the face)."""
        if self._gray is None or self._features is None or len(self._features) < 2:
            return None
        prev, feats = self._gray, self._features
        nxt, ok, _ = cv2.calcOpticalFlowPyrLK(prev, gray, feats, None, **_LK)
        back, ok_back, _ = cv2.calcOpticalFlowPyrLK(gray, prev, nxt, None, **_LK)
        fb = np.linalg.norm((back - feats).reshape(-1, 2), axis=1)
        good = (ok.ravel() == 1) & (ok_back.ravel() == 1) & (fb < MAX_FB_ERROR_PX)
        if good.sum() < max(2, MIN_TRACKED * len(feats)):
            return None
        moved = estimate_similarity(feats.reshape(-1, 2)[good], nxt.reshape(-1, 2)[good])
        points = np.asarray(landmarks.points, np.float64)
        xy = points[:, :2] @ moved[:, :2].T + moved[:, 2]
        new = points.copy()
        new[:, :2] = xy
        self._gray = gray
        self._features = nxt[good].reshape(-1, 1, 2)
        return Landmarks(scheme=landmarks.scheme, points=new.astype(np.float32),
                         score=landmarks.score)


def blend(followed: Landmarks, located: Landmarks, weight: float) -> Landmarks:
    """The landmark model's ``located`` shape, placed ``weight`` of the way from where
    the flow ``followed`` the face (0) to where the model put it (1), by the stable
    points' similarity. The model corrects the flow's slow drift; the flow keeps the
    model's frame-to-frame jitter and its own lag out of the alignment."""
    to_followed = estimate_similarity(stable_points(located.scheme, located.points),
                                      stable_points(followed.scheme, followed.points))
    identity = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    move = (1.0 - weight) * to_followed + weight * identity
    points = np.asarray(located.points, np.float64).copy()
    points[:, :2] = points[:, :2] @ move[:, :2].T + move[:, 2]
    return Landmarks(scheme=located.scheme, points=points.astype(np.float32),
                     score=located.score)
