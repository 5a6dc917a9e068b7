"""What the learned spotter's network sees of one aligned face: the gray face resized to
its input side (area interpolation), whatever size the align stage produced (the harness
aligns at 128 px, the demo at 64 px), so training data and serving go through the same
function.

>>> import numpy as np
>>> face_input(np.zeros((128, 128), np.uint8), 64).shape
(64, 64)
"""

from __future__ import annotations

import cv2
import numpy as np


def face_input(gray: np.ndarray, size: int) -> np.ndarray:
    """uint8 (size, size): ``gray`` (uint8 (S, S)) resized by area averaging (a no-op when
    it already has that side)."""
    if gray.ndim != 2:
        raise ValueError(f"expected a gray (S, S) face, got shape {gray.shape}")
    if gray.shape == (size, size):
        return gray
    return cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA)
