"""Single-core rendering speed of the generator, for the benchmark.

Example (needs the bundled media)::

    measure_fps(SceneSpec(seed=0), frames=300)   # frames/s on one thread
"""

from __future__ import annotations

import time
from dataclasses import replace

import cv2

from pipeline.synth.scene import SceneSpec, SyntheticScene


def measure_fps(spec: SceneSpec, frames: int = 300) -> float:
    """Frames/s rendering ``frames`` frames of ``spec`` on one OpenCV thread (noise, JPEG
    and everything else the spec asks for included; loading the base faces and planning
    excluded, as they happen once at start)."""
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        if spec.total_frames is not None and spec.total_frames < frames + 1:
            spec = replace(spec, frames=frames + 1, seconds=None)
        scene = SyntheticScene(spec)
        scene.render(0)
        start = time.perf_counter()
        for i in range(1, frames + 1):
            scene.render(i)
        return frames / (time.perf_counter() - start)
    finally:
        cv2.setNumThreads(threads)
