"""The two deformation models: the held-out muscle model moves each action unit's region
the way the AU moves it, independently of the training generator, and the training
generator's randomisation changes what it plants while its default stays as it was."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.synth.base_faces import load_base_faces
from pipeline.synth.deformation_model import DeformationSpec
from pipeline.synth.distractors import DistractorSpec
from pipeline.synth.muscles import muscle_envelope
from pipeline.synth.scene import SceneSpec, SyntheticScene
from pipeline.synth.truth import ExpressionEvent
from tests.conftest import REPO

STILL = DistractorSpec(blinks_per_minute=0, head_per_minute=0, illumination_per_minute=0,
                       speech_per_minute=0, noise_sigma=0)


@pytest.fixture(scope="module")
def astronaut():
    return load_base_faces([REPO / "configs" / "examples" / "media" / "astronaut.png"])


def scene(faces, aus, spec: DeformationSpec) -> SyntheticScene:
    ev = ExpressionEvent("s", 0, 2, 5, 9, 30.0, "micro", "x", "megc3", aus, 3.0)
    return SyntheticScene(SceneSpec(seed=1, frames=12, width=256, height=256, faces=faces,
                                    script=[ev], distractors=STILL, deformation=spec))


def moved(sc: SyntheticScene, landmarks: tuple[int, ...]) -> np.ndarray:
    """Mean canonical displacement of ``landmarks`` at the apex."""
    d = sc.control_displacement(5)
    rows = sc.layers[0].deformation.row
    return d[[rows[k] for k in landmarks]].mean(axis=0)


@pytest.mark.parametrize("model", ["rbf", "muscle"])
def test_lip_corners_go_up_for_au12_and_down_for_au15(astronaut, model) -> None:
    up = moved(scene(astronaut, ("AU12",), DeformationSpec(model)), (61,))
    down = moved(scene(astronaut, ("AU15",), DeformationSpec(model)), (61,))
    assert up[1] < -0.5 and up[0] < 0          # image-left corner: up and out
    assert down[1] > 0.5


def test_the_muscle_model_raises_the_brows_for_surprise(astronaut) -> None:
    d = moved(scene(astronaut, ("AU1", "AU2"), DeformationSpec("muscle")), (107, 70))
    assert d[1] < -1.0


def test_the_two_models_plant_different_fields(astronaut) -> None:
    """Same AU, same face: the dense fields differ by 35 % or more of the training
    model's field (measured 42-94 % over these AUs): another model, not a copy."""
    for aus in (("AU12",), ("AU15",), ("AU1", "AU2"), ("AU4",), ("AU9",)):
        rbf = scene(astronaut, aus, DeformationSpec("rbf")).expression_field(5)[0]
        mus = scene(astronaut, aus, DeformationSpec("muscle")).expression_field(5)[0]
        h, w = min(rbf.shape[0], mus.shape[0]), min(rbf.shape[1], mus.shape[1])
        a, b = rbf[:h, :w], mus[:h, :w]
        assert np.linalg.norm(a - b) / np.linalg.norm(a) > 0.35, aus
        assert np.abs(b).max() > 0.5


def test_randomisation_turns_the_pushes_and_the_default_is_unchanged(astronaut) -> None:
    plain = moved(scene(astronaut, ("AU12",), DeformationSpec()), (61,))
    turned = moved(scene(astronaut, ("AU12",), DeformationSpec(turn_deg={"AU12": 20.0})),
                   (61,))
    angle = np.degrees(np.arctan2(turned[1], turned[0]) - np.arctan2(plain[1], plain[0]))
    assert abs(abs(angle) - 20.0) < 3.0
    a = scene(astronaut, ("AU12",), DeformationSpec()).render(5)
    b = scene(astronaut, ("AU12",), DeformationSpec("rbf")).render(5)
    assert np.array_equal(a, b)


def test_the_held_out_time_course_moves_every_event_frame() -> None:
    w = [muscle_envelope(i, 10, 13, 20) for i in range(8, 23)]
    assert w[:2] == [0.0, 0.0] and w[-2:] == [0.0, 0.0]
    assert all(v > 0 for v in w[2:-2]) and max(w) == 1.0 == w[5]


def test_unknown_models_and_envelopes_are_refused() -> None:
    with pytest.raises(ValueError, match="deformation model"):
        DeformationSpec("bezier")       # type: ignore[arg-type]
    with pytest.raises(ValueError, match="envelope"):
        DeformationSpec(envelope="square")
