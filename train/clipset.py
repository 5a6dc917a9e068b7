"""All prepared clips of a run in memory, and the model inputs of any subset of them.

Clips are prepared once (aligned, cached on disk, resampled to T) and kept as uint8; a
fold normalises its inputs with statistics of its own training indices
(:mod:`train.normalise`) when it asks for tensors.

Example::

    clips = ClipSet.prepare(samples, ids, recipe.preparation)
    norms = clips.fit_normalisation(fold.train, ("face",))
    x = clips.inputs(fold.test, norms, ARCHITECTURES["stcnn"])   # [(N, 1, T, 64, 64)]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from train.clips import prepare_clip
from train.datasets.sample import Sample
from train.models.registry import Architecture
from train.normalise import Normalisation
from train.recipe import Preparation

STREAMS = ("face", "eyes", "mouth")


@dataclass
class ClipSet:
    """Prepared clips, index-aligned with the run's sample list."""

    face: np.ndarray         # (N, T, S, S) uint8
    eyes: np.ndarray         # (N, T, R, R) uint8
    mouth: np.ndarray        # (N, T, R, R) uint8
    labels: np.ndarray       # (N,) int64 class ids
    spot: np.ndarray         # (N, T) float32: 1 inside onset..offset
    missing: int             # source frames without a face, over all clips
    from_cache: int          # clips read from the alignment cache
    reference: str = "none"  # "first": inputs are frames minus the clip's first frame

    @classmethod
    def prepare(cls, samples: Sequence[Sample], ids: Sequence[int], prep: Preparation,
                progress: Callable[[int, int], None] | None = None) -> ClipSet:
        faces, eyes, mouths, spots = [], [], [], []
        missing = cached = 0
        for n, sample in enumerate(samples):
            clip = prepare_clip(sample, size=prep.size, region_size=prep.region_size,
                                frames=prep.frames, mode=prep.mode,
                                window_start=prep.window_start, stabilise=prep.stabilise,
                                margin=prep.margin, cache_dir=prep.cache_dir,
                                backend=prep.backend)
            faces.append(clip.face)
            eyes.append(clip.eyes)
            mouths.append(clip.mouth)
            spot = np.zeros(prep.frames, np.float32)
            spot[clip.onset:clip.offset + 1] = 1.0
            spots.append(spot)
            missing += clip.missing
            cached += clip.from_cache
            if progress is not None:
                progress(n + 1, len(samples))
        return cls(np.stack(faces), np.stack(eyes), np.stack(mouths),
                   np.asarray(ids, np.int64), np.stack(spots), missing, cached,
                   prep.reference)

    def stream(self, name: str) -> np.ndarray:
        return {"face": self.face, "eyes": self.eyes, "mouth": self.mouth}[name]

    def values(self, name: str, idx: np.ndarray) -> np.ndarray:
        """Stream ``name`` of clips ``idx`` before normalisation: the uint8 crops, or
        (``reference="first"``) float32 differences to each clip's first frame."""
        x = self.stream(name)[idx]
        if self.reference == "first":
            return x.astype(np.float32) - x[:, :1].astype(np.float32)
        return x

    def fit_normalisation(self, train: Sequence[int],
                          streams: Sequence[str]) -> dict[str, Normalisation]:
        """(x - mean) / max statistics of ``streams`` over the TRAINING indices only."""
        idx = np.asarray(train, dtype=np.int64)
        return {s: Normalisation.fit([self.values(s, idx)]) for s in streams}

    def inputs(self, indices: Sequence[int], norms: dict[str, Normalisation],
               arch: Architecture) -> list[np.ndarray]:
        """The model's float32 inputs for ``indices``, in ``forward`` argument order."""
        idx = np.asarray(indices, dtype=np.int64)
        out = []
        for s in arch.inputs:
            x = norms[s].apply(self.values(s, idx))          # (n, T, H, W)
            out.append(x[:, :, None] if arch.time_major else x[:, None])
        return out
