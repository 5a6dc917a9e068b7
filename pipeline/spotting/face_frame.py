"""What a spotter consumes per frame of one tracked face.

>>> import numpy as np
>>> f = FaceFrame(pts_ns=40_000_000, gray=np.zeros((128, 128), np.uint8), points=None)
>>> f.pts_ms
40.0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(slots=True)
class FaceFrame:
    """One aligned face at one instant."""

    pts_ns: int
    """Presentation time of the frame, ns (the spotters work in time, never frame counts)."""
    gray: np.ndarray
    """uint8 (S, S): the aligned gray face (:attr:`pipeline.faces.types.AlignedFace.gray`)."""
    points: np.ndarray | None = None
    """float32 (N, 2) landmarks in canonical px (MediaPipe's 478 when available), or None.
    Used for the eye mask and blink rejection; without them fixed canonical boxes serve."""

    @property
    def pts_ms(self) -> float:
        return self.pts_ns / 1e6
