"""Rough head pose and sharpness: enough to drop unusable frames, not a pose estimator.

The angles come from the 5 semantic points with a flat-face model, so expect errors of 5-10
degrees; they are meant for thresholds like "|yaw| < 30", not for geometry.

>>> import numpy as np
>>> from pipeline.faces.canonical import ARCFACE_112
>>> from pipeline.faces.types import Landmarks
>>> [round(a) for a in head_pose(Landmarks("retinaface5", ARCFACE_112, 1.0))]
[0, 0, 0]
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from pipeline.faces.canonical import ARCFACE, MEDIAPIPE, MEDIAPIPE468, RETINAFACE, semantic_points
from pipeline.faces.types import Landmarks

# In a frontal face the nose tip sits this far down from the eye line, as a fraction of the
# eye-line-to-mouth distance: from the ArcFace template for RetinaFace's points, and from the
# GRID mean face (canonical.fit_template) for MediaPipe's, whose tip (point 1) is lower.
_FRONTAL_NOSE_RATIO = {
    RETINAFACE: float(
        (ARCFACE[2, 1] - ARCFACE[:2, 1].mean()) / (ARCFACE[3:, 1].mean() - ARCFACE[:2, 1].mean())
    ),
    MEDIAPIPE: 0.553,
    MEDIAPIPE468: 0.553,  # the same mesh points
}
# How far the nose tip stands in front of the eye/mouth plane, in inter-ocular distances for
# the sideways offset and in eye-to-mouth distances for the vertical one (anthropometric
# averages, rounded): a rotation by angle a moves the tip's projection by depth * sin(a).
_NOSE_DEPTH_IOD = 0.6
_NOSE_DEPTH_EYE_MOUTH = 0.5


def head_pose(landmarks: Landmarks) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees, rough.

    - roll: the angle of the eye line; positive when the image-right eye is lower.
    - yaw: the nose tip's sideways offset from the eye/mouth midline over the inter-ocular
      distance; positive when the nose points to image-right.
    - pitch: the nose tip's height between the eye line and the mouth compared with a
      frontal face; positive when the face tilts down (the tip drops towards the mouth).
      A smile lifts the mouth corners and reads as pitch too (the astronaut's smile: ~25
      degrees), so treat pitch as the roughest of the three.
    """
    eye_l, eye_r, nose, mouth_l, mouth_r = semantic_points(landmarks.scheme, landmarks.points)
    eye_vec = eye_r - eye_l
    roll = math.atan2(eye_vec[1], eye_vec[0])
    iod = float(np.hypot(*eye_vec))
    if iod <= 1e-6:
        return 0.0, 0.0, 0.0
    # Undo the roll so "sideways" and "down" are the face's own axes.
    c, s = math.cos(-roll), math.sin(-roll)
    rot = np.array([[c, -s], [s, c]])
    eyes_mid = rot @ ((eye_l + eye_r) / 2)
    mouth_mid = rot @ ((mouth_l + mouth_r) / 2)
    tip = rot @ nose
    midline_x = (eyes_mid[0] + mouth_mid[0]) / 2
    yaw = math.asin(float(np.clip((tip[0] - midline_x) / (_NOSE_DEPTH_IOD * iod), -1, 1)))
    eye_mouth = mouth_mid[1] - eyes_mid[1]
    pitch = 0.0
    if abs(eye_mouth) > 1e-6:
        ratio = (tip[1] - eyes_mid[1]) / eye_mouth
        pitch = math.asin(
            float(
                np.clip(
                    (ratio - _FRONTAL_NOSE_RATIO[landmarks.scheme]) / _NOSE_DEPTH_EYE_MOUTH, -1, 1
                )
            )
        )
    return math.degrees(yaw), math.degrees(pitch), math.degrees(roll)


def sharpness(gray: np.ndarray) -> float:
    """Variance of the Laplacian of a gray image: higher is sharper (Pech-Pacheco 2000)."""
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())
