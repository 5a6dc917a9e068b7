"""Base faces: real images and videos, with MediaPipe's 478 landmarks per frame, found once.

Every synthetic expression is a deformation of a real face, anchored on its landmarks, so
the landmarks of every base frame are computed at load (MediaPipe face mesh through
:class:`~pipeline.faces.tracker.FaceTracker`) and kept in memory with the frames: the
renderer never runs a model. Each base face is one subject, named after the file stem.

Example (needs the bundled media)::

    face = BaseFace.from_image("configs/examples/media/astronaut.png")
    face.subject, face.frames.shape, face.landmarks.shape
    # ('astronaut', (1, 512, 512, 3), (1, 478, 2))
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pipeline.faces.backend import open_backend
from pipeline.faces.tracker import FaceTracker

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
VIDEO_SUFFIXES = (".mpg", ".mpeg", ".mp4", ".avi", ".mov", ".mkv")

MEDIA = Path(__file__).resolve().parents[2] / "configs" / "examples" / "media"
DEFAULT_MEDIA = (MEDIA / "astronaut.png", MEDIA / "grid_bbaf2n.mpg")
"""The product's own default base faces: the bundled astronaut still and one GRID clip."""


class NoFaceError(ValueError):
    """A base image or video in which MediaPipe found no face."""


@dataclass(frozen=True, eq=False)
class BaseFace:
    """One subject: its frames (a still has one) and their landmarks.

    ``frames``: uint8 (T, H, W, 3) BGR; ``landmarks``: float32 (T, 478, 2) image pixels;
    ``fps``: the video's frame rate (None for a still image).
    """

    subject: str
    path: Path
    frames: np.ndarray
    landmarks: np.ndarray
    fps: float | None

    @property
    def still(self) -> bool:
        """True for a single image (it does not talk; speech-like motion may be added)."""
        return self.frames.shape[0] == 1

    @classmethod
    def from_image(cls, path: str | Path) -> BaseFace:
        """A still base face from an image file."""
        path = Path(path)
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(f"cannot read image {path}")
        frames = image[None]
        return cls(path.stem, path, frames, _landmarks(path, frames), None)

    @classmethod
    def from_video(cls, path: str | Path, max_frames: int = 750) -> BaseFace:
        """A talking base face from a video file (at most ``max_frames`` frames kept)."""
        path = Path(path)
        capture = cv2.VideoCapture(str(path))
        if not capture.isOpened():
            raise FileNotFoundError(f"cannot open video {path}")
        fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
        images: list[np.ndarray] = []
        while len(images) < max_frames:
            ok, image = capture.read()
            if not ok:
                break
            images.append(image)
        capture.release()
        if not images:
            raise FileNotFoundError(f"no frames in video {path}")
        frames = np.stack(images)
        return cls(path.stem, path, frames, _landmarks(path, frames), float(fps))

    @classmethod
    def load(cls, path: str | Path) -> BaseFace:
        """An image or a video, by suffix."""
        path = Path(path)
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return cls.from_image(path)
        if path.suffix.lower() in VIDEO_SUFFIXES:
            return cls.from_video(path)
        raise ValueError(f"{path}: not an image {IMAGE_SUFFIXES} or video {VIDEO_SUFFIXES}")


def _landmarks(path: Path, frames: np.ndarray) -> np.ndarray:
    """478 landmarks per frame, MediaPipe in video mode over the frames in order.

    A frame where the mesh loses the face keeps the previous frame's landmarks (rare on
    the frontal clips this is meant for); a file with no face at all is an error.
    """
    tracker = FaceTracker(open_backend("mediapipe", mesh="refined"), detect_every=1_000_000)
    out: list[np.ndarray | None] = []
    try:
        for i, frame in enumerate(frames):
            tracks = tracker.update(frame, pts_ns=i * 40_000_000)
            out.append(tracks[0].landmarks.points.copy() if tracks else None)
    finally:
        tracker.close()
    found = [p for p in out if p is not None]
    if not found:
        raise NoFaceError(f"{path}: MediaPipe found no face in {len(frames)} frame(s)")
    last = found[0]
    filled = []
    for points in out:
        last = points if points is not None else last
        filled.append(last)
    return np.stack(filled).astype(np.float32)


def media_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files and folders -> the image and video files, folders expanded recursively
    (sorted), so ``../shared/data/real`` gives the astronaut and every GRID clip."""
    out: list[Path] = []
    for p in (Path(x) for x in paths):
        if p.is_dir():
            out += sorted(
                f for f in p.rglob("*")
                if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES
            )
        elif p.exists():
            out.append(p)
        else:
            raise FileNotFoundError(f"base face {p} does not exist")
    if not out:
        raise FileNotFoundError(f"no images or videos in {list(paths)}")
    return out


_CACHE: dict[Path, BaseFace] = {}


def load_base_faces(paths: Iterable[str | Path] | None = None) -> list[BaseFace]:
    """Base faces from files and folders (default: :data:`DEFAULT_MEDIA`).

    Loaded faces are kept in a per-process cache by resolved path, so several scenes or
    sources on the same media run MediaPipe only once.
    """
    faces = []
    for path in media_paths(DEFAULT_MEDIA if paths is None else paths):
        key = path.resolve()
        if key not in _CACHE:
            _CACHE[key] = BaseFace.load(path)
        faces.append(_CACHE[key])
    return faces
