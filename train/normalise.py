"""The seed's global normalisation, ``x = (x - mean) / max``, with statistics from the
TRAINING fold only.

MicroExpSTCNN's code does ``x -= mean(all); x /= max(all)`` over train + validation
together (a small leak, docs/papers.md 1.2 and 4.3); here :meth:`Normalisation.fit` sees
only the training clips of a fold, and the statistics travel with the checkpoint so that
serving applies the very same numbers. ``max`` is taken AFTER subtracting the mean, as
in the seed code. Each input stream (face, eyes, mouth) has its own pair, as the fusion
scripts normalise each stream separately.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Normalisation:
    """``(x - mean) / max`` for one input stream (``max`` of ``x - mean``, the seed's).

    Example:
        >>> n = Normalisation.fit([np.array([0, 2, 4], np.uint8)])
        >>> n.mean, n.max, n.apply(np.array([4], np.uint8)).tolist()
        (2.0, 2.0, [1.0])
    """

    mean: float
    max: float

    @classmethod
    def fit(cls, arrays: Iterable[np.ndarray]) -> Normalisation:
        """Statistics over every pixel of ``arrays`` (the training clips of one stream)."""
        total, count, top = 0.0, 0, -np.inf
        arrays = list(arrays)
        if not arrays:
            raise ValueError("cannot fit a normalisation on no data")
        for a in arrays:
            total += float(a.sum(dtype=np.float64))
            count += a.size
        mean = total / count
        for a in arrays:
            top = max(top, float(a.max()) - mean)
        # A constant input would divide by zero; 1 leaves it centred.
        return cls(mean=mean, max=top if top > 0 else 1.0)

    def apply(self, x: np.ndarray) -> np.ndarray:
        """``(x - mean) / max`` as float32."""
        return (x.astype(np.float32) - np.float32(self.mean)) / np.float32(self.max)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, float]) -> Normalisation:
        return cls(mean=float(d["mean"]), max=float(d["max"]))


def fit_streams(clips: dict[str, list[np.ndarray]]) -> dict[str, Normalisation]:
    """One :class:`Normalisation` per stream name (``{"face": [...], "eyes": [...]}``)."""
    return {name: Normalisation.fit(arrays) for name, arrays in clips.items()}
