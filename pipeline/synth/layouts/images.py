"""Frames written as the datasets' JPEG images."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def write_jpeg(path: Path, frame: np.ndarray, quality: int, gray: bool = False) -> None:
    """Write a BGR uint8 frame as JPEG; ``gray`` writes a single-channel JPEG (SAMM is
    recorded in grayscale, so its readers must cope with one channel)."""
    if not 0 <= quality <= 100:
        raise ValueError(f"JPEG quality must be 0..100, got {quality}")
    img = np.asarray(frame)
    if img.dtype != np.uint8 or img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] != 3):
        raise ValueError(f"{path.name}: expected a BGR uint8 (H, W, 3) frame, "
                         f"got {img.dtype} {img.shape}")
    if gray and img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    elif not gray and img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if not cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)]):
        raise OSError(f"could not write {path}")
