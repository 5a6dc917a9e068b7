"""Colour conversions the face models need (they all want RGB; frames arrive BGR or gray),
and a video file's frames for the tools and tests that read whole clips."""

from __future__ import annotations

from pathlib import Path

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


def video_frames(path: Path | str, size: tuple[int, int] | None = None) -> list[np.ndarray]:
    """Every frame OpenCV decodes from a video file (BGR), resized to ``size`` (w, h)
    if given."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame if size is None
                      else cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR))
    capture.release()
    return frames
