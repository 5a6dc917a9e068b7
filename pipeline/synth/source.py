"""The synthetic scene as a frame source (the demo's camera), with its ground truth.

It is generated, so it is not ``live``: pts come from the frame index and it never drops
frames, like a file (capture paces it when ``realtime`` is set). Usable from a pipeline
YAML as a python source::

    sources:
      cam0:
        type: python
        factory: pipeline.synth.source:synthetic_source
        options: {seed: 1, fps: 30, seconds: 60, event_rate: 6, label_set: megc3}
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.synth.distractors import DistractorSpec
from pipeline.synth.scene import SceneSpec, SyntheticScene
from pipeline.synth.truth import GroundTruth


class SyntheticSource:
    """A :class:`~pipeline.sources.base.Source` over a :class:`SyntheticScene`."""

    live = False

    def __init__(self, stream: str, spec: SceneSpec):
        self.stream = stream
        self.spec = spec
        self.fps: float | None = spec.fps
        self._scene: SyntheticScene | None = None
        self._next = 0

    @property
    def scene(self) -> SyntheticScene:
        if self._scene is None:
            self._scene = SyntheticScene(self.spec)
        return self._scene

    @property
    def truth(self) -> GroundTruth:
        """Ground truth of the scene (events planned so far, for an endless one)."""
        return self.scene.truth

    def open(self) -> None:
        """Load the base faces (MediaPipe runs here, once) and start from frame 0."""
        _ = self.scene
        self._next = 0

    def _at_end(self) -> bool:
        total = self.scene.total
        return total is not None and self._next >= total

    def read(self) -> tuple[np.ndarray, int] | None:
        if self._at_end():
            return None
        i = self._next
        self._next += 1
        return self.scene.render(i), self.scene.pts_ns(i)

    def skip(self) -> int | None:
        if self._at_end():
            return None
        i = self._next
        self._next += 1
        return self.scene.pts_ns(i)

    def close(self) -> None:
        """Nothing to free (the scene and its base faces stay for a reopen)."""

    def __iter__(self) -> Iterator[tuple[np.ndarray, int]]:
        while (item := self.read()) is not None:
            yield item


def synthetic_source(
    stream_id: str,
    seed: int = 0,
    fps: float = 30.0,
    width: int = 640,
    height: int = 480,
    seconds: float | None = None,
    frames: int | None = None,
    faces: Sequence[str | Path] | None = None,
    event_rate: float = 6.0,
    label_set: str = "megc3",
    micro_fraction: float = 0.7,
    faces_per_scene: int = 1,
    noise_sigma: float = 2.0,
    jpeg_quality: int | None = None,
    **distractors: Any,
) -> SyntheticSource:
    """Factory for ``type: python`` sources; extra keyword options go to
    :class:`~pipeline.synth.distractors.DistractorSpec` (e.g. ``blinks_per_minute``).
    ``faces`` default: the bundled astronaut and GRID clip."""
    spec = SceneSpec(
        seed=int(seed), fps=float(fps), width=int(width), height=int(height), seconds=seconds,
        frames=frames, faces=list(faces) if faces is not None else None,
        faces_per_scene=int(faces_per_scene), label_set=label_set,
        events_per_minute=float(event_rate), micro_fraction=float(micro_fraction),
        distractors=DistractorSpec(noise_sigma=float(noise_sigma), jpeg_quality=jpeg_quality,
                                   **distractors),
        stream=stream_id)
    return SyntheticSource(stream_id, spec)
