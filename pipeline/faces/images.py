"""Colour conversions the face models need (they all want RGB; frames arrive BGR or gray)."""

from __future__ import annotations

import cv2
import numpy as np


def to_rgb(image: np.ndarray) -> np.ndarray:
    """A contiguous uint8 RGB copy of a BGR (H, W, 3) or gray (H, W) frame."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    raise ValueError(f"expected a BGR (H, W, 3) or gray (H, W) image, got shape {image.shape}")


def to_bgr(image: np.ndarray) -> np.ndarray:
    """A BGR view (as is) or copy (from gray) of a frame."""
    return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image
