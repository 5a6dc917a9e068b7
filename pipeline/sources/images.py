"""Image-folder sequences, the way CASME II, SAMM and SMIC store their clips."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from pipeline.errors import SourceError
from pipeline.sources.base import BadFrame

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}


def natural_key(name: str) -> list[int | str]:
    """Sort key that orders ``img2`` before ``img10`` (``reg_img46.jpg`` in CASME II).

    Example:
        >>> sorted(["img10.jpg", "img2.jpg", "img1.jpg"], key=natural_key)
        ['img1.jpg', 'img2.jpg', 'img10.jpg']
    """
    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r"(\d+)", name)]


class ImageFolderSource:
    """Frames from the images of one folder in natural order; pts = index / fps."""

    live = False

    def __init__(self, stream: str, folder: Path, fps: float, glob: str = "*"):
        self.stream = stream
        self.folder = folder
        self.fps = fps
        self.glob = glob
        self._files: list[Path] = []
        self._index = 0

    def open(self) -> None:
        if not self.folder.is_dir():
            raise SourceError(f"{self.stream}: no such folder {self.folder}")
        files = [p for p in self.folder.glob(self.glob)
                 if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
        if not files:
            raise SourceError(f"{self.stream}: no images in {self.folder}")
        self._files = sorted(files, key=lambda p: natural_key(p.name))
        self._index = 0

    def _next_pts(self) -> int | None:
        if self._index >= len(self._files):
            return None
        pts = round(self._index * 1e9 / self.fps)
        self._index += 1
        return pts

    def read(self) -> tuple[np.ndarray, int] | None:
        path = self._files[self._index] if self._index < len(self._files) else None
        pts = self._next_pts()
        if pts is None or path is None:
            return None
        try:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        except cv2.error as exc:  # e.g. a header claiming more than 2**30 pixels
            raise BadFrame(f"{self.stream}: cannot read image {path}: "
                           f"{str(exc).strip().splitlines()[-1]}") from None
        if image is None:
            raise BadFrame(f"{self.stream}: cannot read image {path}")
        return image, pts

    def skip(self) -> int | None:
        return self._next_pts()

    def close(self) -> None:
        self._files = []
