"""Helpers of the spotting tests: short synthetic scenes on a real face (skipped without
the bundled media), aligned by the production tracker + aligner."""

from __future__ import annotations

from dataclasses import replace
from functools import cache

import numpy as np
import pytest

from pipeline.spotting.face_frame import FaceFrame
from pipeline.spotting.offline import aligned_face_frames
from pipeline.synth.distractors import DistractorSpec
from pipeline.synth.scene import SceneSpec, SyntheticScene
from pipeline.synth.truth import ExpressionEvent
from tests.conftest import REPO

MEDIA = REPO / "configs" / "examples" / "media"
ASTRONAUT = MEDIA / "astronaut.png"

QUIET = DistractorSpec(blinks_per_minute=0, head_per_minute=0, illumination_per_minute=0,
                       speech_per_minute=0, noise_sigma=2.0)
"""Sensor noise only."""


def need_media() -> None:
    if not ASTRONAUT.exists():
        pytest.skip(f"bundled media missing: {ASTRONAUT}")


def scripted_micro(fps: float, onset_ms: float = 2000.0, ms: float = 300.0,
                   aus: tuple[str, ...] = ("AU1", "AU2"), px: float = 2.5) -> ExpressionEvent:
    onset = round(onset_ms * fps / 1000)
    n = round(ms * fps / 1000)
    return ExpressionEvent(stream="t", face=0, onset=onset, apex=onset + round(0.4 * (n - 1)),
                           offset=onset + n - 1, fps=fps, kind="micro", label="surprise",
                           label_set="megc3", aus=aus, intensity_px=px)


@cache
def scene_faces(fps: float, seconds: float, script: bool, distractors: DistractorSpec,
                seed: int = 3) -> tuple[tuple[FaceFrame, ...], tuple[ExpressionEvent, ...]]:
    """The aligned faces of a 320x240 astronaut scene (track 0) and its expression events."""
    need_media()
    spec = SceneSpec(seed=seed, fps=fps, width=320, height=240, seconds=seconds,
                     faces=[ASTRONAUT], events_per_minute=0, distractors=distractors,
                     script=[scripted_micro(fps)] if script else None)
    scene = SyntheticScene(spec)
    frames = tuple(f for tid, f in aligned_face_frames(scene.frames()) if f is not None
                   and tid == 0)
    assert len(frames) >= 0.95 * spec.total_frames
    events = tuple(scene.truth.events)
    if not script:
        assert not events
    return frames, events


def only(**rates: float) -> DistractorSpec:
    """QUIET plus the given distractor rates."""
    return replace(QUIET, **rates)


def textured_face(seed: int = 0, size: int = 128) -> np.ndarray:
    """A smooth random texture standing in for a face (no landmarks needed)."""
    import cv2

    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, (size, size)).astype(np.float32)
    return cv2.GaussianBlur(img, (0, 0), 2.0).clip(0, 255).astype(np.uint8)
