"""Real faces for the face-library tests: GRID clips and the astronaut, from ../shared,
or, where ../shared is not next to the checkout, the copies bundled with the repo
(configs/examples/media: the astronaut and one GRID clip, which then stands in for
every clip)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.faces.backend import FaceBackend, open_backend
from pipeline.faces.images import video_frames
from tests.conftest import REPO, SHARED

REAL = SHARED
GRID = REAL / "grid"
ASTRONAUT = REAL / "astronaut.png"
BUNDLED = REPO / "configs" / "examples" / "media"
FRAME_NS = 40_000_000  # 25 fps
# Three speakers: a man, a woman, and the man with glasses.
CLIPS = ("bbaf2n.mpg", "lwbsza.mpg", "swiz3n.mpg")


def need(path: Path) -> Path:
    if path.exists():
        return path
    stand_in = BUNDLED / ("astronaut.png" if path.suffix == ".png" else "grid_bbaf2n.mpg")
    if path.suffix in (".png", ".mpg") and stand_in.exists():
        return stand_in
    pytest.skip(f"real test data missing: {path} (see shared/docs/faces.md)")


@cache
def _clip(name: str) -> tuple[np.ndarray, ...]:
    return tuple(video_frames(need(GRID / name)))


def grid_frames(name: str) -> list[np.ndarray]:
    """Every frame of a GRID clip (360x288 BGR, 75 frames), decoded once per session."""
    return list(_clip(name))


@cache
def astronaut_640() -> np.ndarray:
    """astronaut.png resized to 480x480 and padded to 640x480: one face of about 90 px."""
    image = cv2.imread(str(need(ASTRONAUT)))
    face = cv2.resize(image, (480, 480), interpolation=cv2.INTER_AREA)
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[:, 80:560] = face
    return frame


def noisy(image: np.ndarray, rng: np.random.Generator, sigma: float = 3.0) -> np.ndarray:
    """``image`` plus fresh Gaussian sensor noise."""
    noise = rng.standard_normal(image.shape, dtype=np.float32) * sigma
    return np.clip(image + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def mediapipe() -> Iterator[FaceBackend]:
    yield open_backend("mediapipe")


@pytest.fixture(scope="session")
def retinaface() -> Iterator[FaceBackend]:
    yield open_backend("retinaface")
