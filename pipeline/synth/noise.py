"""Per-frame sensor noise from a precomputed bank, and optional JPEG re-encoding.

Drawing 640x480x3 Gaussian samples costs more than rendering a frame, so a few noise
frames are drawn once (a little larger than the frame) and each frame adds one of them at
a random offset: the choice comes from ``(seed, frame index)``, so the noise is
deterministic and random access works. The noise is kept as two uint8 halves (positive
and negative part) so adding it is two saturating ``cv2.add``/``cv2.subtract`` calls.

Example:
    >>> import numpy as np
    >>> bank = NoiseBank(2.0, 64, 48, seed=0)
    >>> frame = np.full((48, 64, 3), 128, np.uint8)
    >>> a, b = bank.apply(frame, 5), bank.apply(frame, 5)
    >>> bool((a == b).all()), 1.5 < float(a.astype(float).std()) < 2.5
    (True, True)
"""

from __future__ import annotations

import cv2
import numpy as np

NOISE_TAG = 0x4015E
BANK_SIZE = 6
MARGIN = 32


class NoiseBank:
    """Gaussian noise of ``sigma`` grey levels for ``width`` x ``height`` BGR frames."""

    def __init__(self, sigma: float, width: int, height: int, seed: int):
        self.sigma = sigma
        self.seed = seed
        self.width, self.height = width, height
        rng = np.random.default_rng([seed, NOISE_TAG])
        shape = (BANK_SIZE, height + MARGIN, width + MARGIN, 3)
        noise = np.rint(rng.normal(0.0, sigma, shape).astype(np.float32))
        self._pos = np.clip(noise, 0, 255).astype(np.uint8)
        self._neg = np.clip(-noise, 0, 255).astype(np.uint8)

    def apply(self, frame: np.ndarray, i: int) -> np.ndarray:
        """``frame`` plus the noise of frame ``i`` (a new array)."""
        if self.sigma <= 0:
            return frame
        rng = np.random.default_rng([self.seed, NOISE_TAG, i])
        k, dx, dy = (int(v) for v in rng.integers(0, (BANK_SIZE, MARGIN, MARGIN)))
        h, w = self.height, self.width
        pos = self._pos[k, dy : dy + h, dx : dx + w]
        neg = self._neg[k, dy : dy + h, dx : dx + w]
        return cv2.subtract(cv2.add(frame, pos), neg)


def jpeg(frame: np.ndarray, quality: int) -> np.ndarray:
    """``frame`` after a JPEG encode/decode round trip at ``quality`` (1-100)."""
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return cv2.imdecode(data, cv2.IMREAD_COLOR)
