"""A synthetic source with one scripted micro-expression at a known time, for pipeline
tests of the spot and classify stages (a ``type: python`` source factory).

``gates`` holds the stream back: ``{frame: path}`` reads frame ``frame`` only once
``path`` exists, so a test can act (kill a stage) at a point of the stream that the
pipeline cannot run past, however loaded the machine and however late its subscriber."""

from __future__ import annotations

import time
from pathlib import Path

from pipeline.synth.base_faces import DEFAULT_MEDIA
from pipeline.synth.distractors import DistractorSpec
from pipeline.synth.scene import SceneSpec
from pipeline.synth.source import SyntheticSource
from pipeline.synth.truth import ExpressionEvent


def make(stream: str, fps: float = 30.0, seconds: float = 4.0, onset_s: float = 2.0,
         width: int = 320, height: int = 240, aus: tuple[str, ...] = ("AU1", "AU2"),
         intensity_px: float = 2.5, gates: dict[str, str] | None = None,
         **_: object) -> SyntheticSource:
    onset = round(onset_s * fps)
    n = max(3, round(0.3 * fps))
    event = ExpressionEvent(stream=stream, face=0, onset=onset, apex=onset + n // 3,
                            offset=onset + n - 1, fps=fps, kind="micro", label="surprise",
                            label_set="megc3", aus=tuple(aus), intensity_px=intensity_px)
    quiet = DistractorSpec(blinks_per_minute=0, head_per_minute=0, illumination_per_minute=0,
                           speech_per_minute=0, noise_sigma=2.0)
    spec = SceneSpec(seed=7, fps=fps, width=width, height=height, seconds=seconds,
                     faces=[DEFAULT_MEDIA[0]], stream=stream, script=[event],
                     distractors=quiet)
    if gates:
        return GatedSource(stream, spec, {int(k): Path(v) for k, v in gates.items()})
    return SyntheticSource(stream, spec)


class GatedSource(SyntheticSource):
    """Reads frame k of ``gates`` only once its file exists (at most 120 s)."""

    def __init__(self, stream: str, spec: SceneSpec, gates: dict[int, Path]):
        super().__init__(stream, spec)
        self.gates = gates

    def read(self):
        gate = self.gates.get(self._next)
        deadline = time.monotonic() + 120
        while gate is not None and not gate.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return super().read()
