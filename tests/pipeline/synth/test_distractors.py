"""A blink closes the eye (MediaPipe's eye aspect ratio drops) and is a distractor, not an
expression event."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from pipeline.faces.backend import open_backend
from pipeline.faces.tracker import FaceTracker
from pipeline.synth.scene import SceneSpec, SyntheticScene
from tests.pipeline.synth.conftest import QUIET

# (upper, lower) lid pairs and the corners of each eye.
EYES = (((159, 145), (158, 153), (160, 144), (33, 133)),
        ((386, 374), (385, 380), (387, 373), (362, 263)))


def eye_aspect_ratio(points: np.ndarray) -> float:
    """Mean over both eyes of lid opening / eye width."""
    ratios = []
    for *pairs, (a, b) in EYES:
        opening = np.mean([np.linalg.norm(points[u] - points[lo]) for u, lo in pairs])
        ratios.append(opening / np.linalg.norm(points[a] - points[b]))
    return float(np.mean(ratios))


def _ear(image: np.ndarray) -> float:
    tracker = FaceTracker(open_backend("mediapipe"))
    try:
        tracks = tracker.update(image, 0)
        assert tracks
        return eye_aspect_ratio(tracks[0].landmarks.points)
    finally:
        tracker.close()


def test_blink_closes_the_eye_and_is_a_distractor(astronaut) -> None:
    spec = SceneSpec(seed=9, faces=[astronaut], seconds=20, events_per_minute=0,
                     distractors=replace(QUIET, blinks_per_minute=20))
    scene = SyntheticScene(spec)
    blinks = [d for d in scene.truth.distractors if d.kind == "blink"]
    assert blinks and not scene.truth.events
    b = blinks[0]
    closed = max(range(b.start, b.end + 1), key=lambda i: scene.state(i).blink)
    open_ear, closed_ear = _ear(scene.render(b.start - 1)), _ear(scene.render(closed))
    print(f"blink {b.start}-{b.end}: EAR open {open_ear:.3f}, closed {closed_ear:.3f}")
    assert 100 <= (b.end - b.start + 1) * 1000 / spec.fps <= 400 + 1000 / spec.fps
    assert closed_ear < 0.6 * open_ear
    assert all(e.kind != "blink" for e in scene.truth.events)


def test_all_distractor_kinds_planned_and_outside_events(astronaut) -> None:
    scene = SyntheticScene(SceneSpec(seed=2, faces=[astronaut], seconds=300,
                                     events_per_minute=0))
    kinds = {d.kind for d in scene.truth.distractors}
    assert kinds == {"blink", "head_translation", "head_rotation", "head_drift", "speech",
                     "illumination"}
    assert not scene.truth.events
