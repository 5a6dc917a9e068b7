"""Video files, cameras and network streams through OpenCV's FFmpeg/V4L2 backends."""

from __future__ import annotations

import logging

import cv2
import numpy as np

from pipeline.errors import SourceError

log = logging.getLogger(__name__)


class OpenCVSource:
    """One ``cv2.VideoCapture``: a file path, a device index or a URL.

    pts: ``CAP_PROP_POS_MSEC`` after each read, i.e. the container's (or the
    driver's) timestamp of that frame. Where a backend gives none (some cameras
    report 0 throughout), pts falls back to frame count / fps and a warning says so.
    """

    def __init__(
        self,
        stream: str,
        target: str | int,
        *,
        live: bool,
        fps: float | None = None,
        open_timeout_s: float = 10.0,
        read_timeout_s: float = 5.0,
        size: tuple[int, int] | None = None,
    ):
        self.stream = stream
        self.target = target
        self.live = live
        self.fps = fps
        self._fps_override = fps
        self._open_timeout_ms = int(open_timeout_s * 1000)
        self._read_timeout_ms = int(read_timeout_s * 1000)
        self._size = size
        self._cap: cv2.VideoCapture | None = None
        self._count = 0
        self._last_pts = -1
        self._warned = False

    def open(self) -> None:
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, self._open_timeout_ms,
                  cv2.CAP_PROP_READ_TIMEOUT_MSEC, self._read_timeout_ms]
        if isinstance(self.target, int):
            cap = cv2.VideoCapture(self.target, cv2.CAP_ANY, params)
        else:
            cap = cv2.VideoCapture(self.target, cv2.CAP_FFMPEG, params)
            if not cap.isOpened() and self.target.startswith("/dev/video"):
                cap = cv2.VideoCapture(self.target, cv2.CAP_V4L2)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"{self.stream}: cannot open {self.target!r}")
        if self._size is not None:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self._size[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self._size[1])
        if self._fps_override is None:
            fps = cap.get(cv2.CAP_PROP_FPS)
            self.fps = fps if fps and 0 < fps < 1000 else None
        self._cap = cap
        self._count = 0
        self._last_pts = -1

    def _pts(self) -> int:
        assert self._cap is not None
        ms = self._cap.get(cv2.CAP_PROP_POS_MSEC)
        pts = round(ms * 1e6) if ms and ms > 0 else -1
        if self._fps_override is not None or (pts <= self._last_pts and self._count > 1):
            # No usable timestamp from the backend: derive it from the frame count.
            if not self._warned and self._fps_override is None:
                log.warning("%s: backend gives no timestamps; pts from frame count", self.stream)
                self._warned = True
            fps = self.fps or 30.0
            pts = round((self._count - 1) * 1e9 / fps)
        self._last_pts = max(pts, 0)
        return self._last_pts

    def read(self) -> tuple[np.ndarray, int] | None:
        return self.read_into(None)

    def read_into(self, out: np.ndarray | None) -> tuple[np.ndarray, int] | None:
        """``read``, decoding into ``out`` when it has the frame's shape (OpenCV writes
        into a matching array instead of allocating one)."""
        if self._cap is None:
            raise SourceError(f"{self.stream}: not open")
        ok, image = self._cap.read() if out is None else self._cap.read(out)
        if not ok or image is None:
            if self.live:
                raise SourceError(f"{self.stream}: no frame from {self.target!r}")
            return None
        self._count += 1
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        return image, self._pts()

    def skip(self) -> int | None:
        if self._cap is None or not self._cap.grab():
            return None
        self._count += 1
        return self._pts()

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None
