"""The synthetic scene as a frame source (the demo's camera), with its ground truth.

It is generated, so it is not ``live``: pts come from the frame index and it never drops
frames, like a file (capture paces it when ``realtime`` is set). Usable from a pipeline
YAML as a python source::

    sources:
      cam0:
        type: python
        factory: pipeline.synth.source:synthetic_source
        options: {seed: 1, fps: 30, seconds: 60, event_rate: 6, label_set: megc3}

Two options serve the streams benchmark (``bench/streams.py``):
``loop_frames`` renders that many frames once at open (around the scene's first
micro-expression) and plays them forwards and backwards for ever, so a stream costs a
camera's share of CPU (a buffer handed over) instead of the renderer's; ``wall_clock_pts``
stamps frames with the wall clock (unix ns) at which frame 0 was produced plus the frame
time, as a camera stamping frames from the system clock does, so a subscriber can measure
lag and latency as ``time.time_ns() - pts``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.synth.deformation_model import DeformationSpec
from pipeline.synth.distractors import DistractorSpec
from pipeline.synth.scene import SceneSpec, SyntheticScene
from pipeline.synth.truth import GroundTruth


class SyntheticSource:
    """A :class:`~pipeline.sources.base.Source` over a :class:`SyntheticScene`."""

    live = False

    def __init__(self, stream: str, spec: SceneSpec, loop_frames: int | None = None,
                 wall_clock_pts: bool = False):
        if loop_frames is not None and loop_frames < 2:
            raise ValueError(f"{stream}: loop_frames must be >= 2, got {loop_frames}")
        self.stream = stream
        self.spec = spec
        self.fps: float | None = spec.fps
        self.loop_frames = loop_frames
        self.wall_clock_pts = wall_clock_pts
        self._scene: SyntheticScene | None = None
        self._loop: list[np.ndarray] = []
        self._origin_ns: int | None = None
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

    def prepare(self) -> None:
        """The slow one-off work (capture calls it before it reports ready): load the
        base faces (MediaPipe runs here, once) and render the loop if there is one."""
        _ = self.scene
        if self.loop_frames and not self._loop:
            micro = [e for e in self.truth.events if e.kind == "micro"]
            first = max(0, micro[0].onset - 8) if micro else 0
            if self.scene.total is not None:
                first = max(0, min(first, self.scene.total - self.loop_frames))
            self._loop = [self.scene.render(first + j) for j in range(self.loop_frames)]

    def open(self) -> None:
        """Prepare (once) and start from frame 0."""
        self.prepare()
        self._next = 0
        self._origin_ns = None

    def _image(self, i: int) -> np.ndarray:
        if not self._loop:
            return self.scene.render(i)
        # Forwards then backwards: no jump where the loop closes (a jump is head motion).
        period = 2 * len(self._loop) - 2
        j = i % period
        return self._loop[j if j < len(self._loop) else period - j]

    def _pts(self, i: int) -> int:
        if not self.wall_clock_pts:
            return self.scene.pts_ns(i)
        if self._origin_ns is None:  # the moment frame 0 exists, as a camera's clock
            self._origin_ns = time.time_ns() - self.scene.pts_ns(i)
        return self._origin_ns + self.scene.pts_ns(i)

    def _at_end(self) -> bool:
        total = self.scene.total
        return total is not None and self._next >= total

    def read(self) -> tuple[np.ndarray, int] | None:
        if self._at_end():
            return None
        i = self._next
        self._next += 1
        image = self._image(i)
        return image, self._pts(i)

    def skip(self) -> int | None:
        if self._at_end():
            return None
        i = self._next
        self._next += 1
        return self._pts(i)

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
    loop_frames: int | None = None,
    wall_clock_pts: bool = False,
    deformation: str = "rbf",
    **distractors: Any,
) -> SyntheticSource:
    """Factory for ``type: python`` sources; extra keyword options go to
    :class:`~pipeline.synth.distractors.DistractorSpec` (e.g. ``blinks_per_minute``).
    ``faces`` default: the bundled astronaut and GRID clip. ``loop_frames`` and
    ``wall_clock_pts``: see the module docstring."""
    spec = SceneSpec(
        seed=int(seed), fps=float(fps), width=int(width), height=int(height), seconds=seconds,
        frames=frames, faces=list(faces) if faces is not None else None,
        faces_per_scene=int(faces_per_scene), label_set=label_set,
        events_per_minute=float(event_rate), micro_fraction=float(micro_fraction),
        distractors=DistractorSpec(noise_sigma=float(noise_sigma), jpeg_quality=jpeg_quality,
                                   **distractors),
        stream=stream_id, deformation=DeformationSpec(deformation))  # type: ignore[arg-type]
    return SyntheticSource(stream_id, spec, loop_frames=loop_frames,
                           wall_clock_pts=wall_clock_pts)
