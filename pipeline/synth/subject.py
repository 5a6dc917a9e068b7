"""Per-subject look: face size and place in the frame, white balance, gain and gamma.

Drawn from ``(seed, subject)`` only, so a subject looks the same in every frame and
differently from the others, which keeps leave-one-subject-out evaluation meaningful.

Example:
    >>> a, b = SubjectLook.draw(0, "astronaut"), SubjectLook.draw(0, "astronaut")
    >>> a == b, a == SubjectLook.draw(1, "astronaut")
    (True, False)
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

SUBJECT_TAG = 0x5B1EC7
"""Seed stream of subject looks (other random streams use other tags)."""


@dataclass(frozen=True, slots=True)
class SubjectLook:
    """How one subject appears: ``face_frac`` is the canonical face side over the cell
    height; ``offset`` moves the face centre by that fraction of the free space; ``wb``
    multiplies (B, G, R); ``gain`` and ``gamma`` shape the tone curve."""

    face_frac: float
    offset: tuple[float, float]
    wb: tuple[float, float, float]
    gain: float
    gamma: float

    @classmethod
    def draw(cls, seed: int, subject: str) -> SubjectLook:
        rng = np.random.default_rng([seed, SUBJECT_TAG, zlib.crc32(subject.encode())])
        wb = rng.uniform(0.88, 1.12, 3)
        wb = wb / wb.mean()
        return cls(
            face_frac=float(rng.uniform(0.34, 0.5)),
            offset=(float(rng.uniform(-0.6, 0.6)), float(rng.uniform(-0.5, 0.5))),
            wb=(float(wb[0]), float(wb[1]), float(wb[2])),
            gain=float(rng.uniform(0.85, 1.15)),
            gamma=float(rng.uniform(0.85, 1.18)),
        )

    def lut(self, illumination: float = 1.0) -> np.ndarray:
        """uint8 (256, 1, 3) lookup table for ``cv2.LUT``: gamma, gain, white balance and
        a global illumination factor in one pass."""
        x = np.arange(256, dtype=np.float64) / 255.0
        tone = 255.0 * x**self.gamma * self.gain * illumination
        table = np.stack([tone * w for w in self.wb], axis=1)
        return np.clip(np.rint(table), 0, 255).astype(np.uint8).reshape(256, 1, 3)
