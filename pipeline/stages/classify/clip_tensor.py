"""Clip buffers -> model input tensors, the same way training prepared them.

A clip message carries uint8 ``face`` (T, S, S), ``eyes`` and ``mouth`` (T, R, R). A model
input named after one of them (``face`` for MicroExpSTCNN, ``eyes`` and ``mouth`` for
MicroExpFuseNet, ``frames`` = the face for the time-contrast net) gets that buffer,
resampled to the model's T and size if they differ, normalised with the training
fold's statistics, ``(x - mean) / max`` (train/normalise.py, carried in the model's
``mestream.normalisation`` metadata), and the channel axis the model expects. A model
trained on differences to each clip's first frame (``mestream.preparation``
``reference: first``) gets those differences, before normalisation, as in training.

Example:
    >>> import numpy as np
    >>> clip = {"face": np.full((18, 64, 64), 130, np.uint8)}
    >>> x = model_input("face", (1, 18, 64, 64), clip, {"face": {"mean": 128.0, "max": 2.0}})
    >>> x.shape, float(x.max())
    ((1, 18, 64, 64), 1.0)
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

SOURCE_BUFFER = {"face": "face", "eyes": "eyes", "mouth": "mouth", "frames": "face"}


def resample_frames(clip: np.ndarray, frames: int) -> np.ndarray:
    """(T, H, W) -> (frames, H, W), linear in time."""
    t = clip.shape[0]
    if t == frames:
        return clip
    pos = np.linspace(0, t - 1, frames)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, t - 1)
    w = (pos - lo).reshape(-1, 1, 1)
    return clip[lo] * (1 - w) + clip[hi] * w


def model_input(name: str, shape: tuple[int, ...], buffers: dict[str, np.ndarray],
                normalisation: dict[str, Any], reference: str = "none") -> np.ndarray:
    """One sample's input ``name`` of ``shape`` (no batch axis) from clip ``buffers``."""
    if name not in SOURCE_BUFFER:
        raise ValueError(f"model input {name!r} is not one a clip can feed; expected one "
                         f"of {sorted(SOURCE_BUFFER)}")
    src = buffers[SOURCE_BUFFER[name]]
    # (1, T, S, S) for the 3D-CNNs; (T, C, S, S) for the time-contrast net.
    if name == "frames":
        frames, channels, size = shape[0], shape[1], shape[2]
    else:
        channels, frames, size = shape[0], shape[1], shape[2]
    x = src.astype(np.float32)
    if x.shape[1] != size or x.shape[2] != size:
        x = np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in x])
    x = resample_frames(x, frames).astype(np.float32)
    if reference == "first":
        x = x - x[:1]
    elif reference != "none":
        raise ValueError(f"unknown preparation.reference {reference!r}")
    stats = normalisation.get(SOURCE_BUFFER[name]) or normalisation.get(name)
    if stats:
        x = (x - np.float32(stats["mean"])) / np.float32(stats["max"])
    else:
        x = x / np.float32(255.0)
    if name == "frames":
        return np.repeat(x[:, None], channels, axis=1)
    return np.repeat(x[None], channels, axis=0)
