"""Each class moves its region's landmarks the right way, as the face library sees it:
MediaPipe + the aligner on the generated neutral and apex frames of macro events (8 px on
a 128 px face, so MediaPipe's own ~0.2 px noise does not matter)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.faces.alignment import FaceAligner
from pipeline.faces.backend import open_backend
from pipeline.faces.tracker import FaceTracker
from pipeline.synth.deformation import grid_roi
from pipeline.synth.scene import SceneSpec, SyntheticScene
from pipeline.synth.truth import ExpressionEvent
from tests.pipeline.synth.conftest import QUIET

BROWS_L, BROWS_R = [105, 66, 52, 65], [334, 296, 282, 295]
INNER_L, INNER_R = [107, 55], [336, 285]
CORNERS_L, CORNERS_R = [61], [291]
LOWER_LIP = [17]

# (label, AUs) -> per-event checks on the aligned (canonical px, y down) displacement.
CASES = [
    ("surprise", ("AU1", "AU2")),
    ("positive", ("AU12",)),
    ("negative", ("AU15",)),
    ("negative", ("AU4",)),
    ("surprise", ("AU1", "AU2", "AU26")),
]


def _aligned(image: np.ndarray) -> np.ndarray:
    tracker = FaceTracker(open_backend("mediapipe"))
    try:
        tracks = tracker.update(image, 0)
        assert tracks, "no face found in a generated frame"
        t = tracks[0]
        face = FaceAligner(size=128, stabilise="none").align(0, image, t.landmarks, 0, 1.0)
        return face.points.astype(np.float64)
    finally:
        tracker.close()


@pytest.fixture(scope="module")
def scene(astronaut) -> SyntheticScene:
    script = [ExpressionEvent("synth0", 0, 20 + 40 * k, 26 + 40 * k, 34 + 40 * k, 30.0, "macro",
                              label, "megc3", aus, 8.0) for k, (label, aus) in enumerate(CASES)]
    return SyntheticScene(SceneSpec(seed=3, faces=[astronaut], frames=40 * len(CASES) + 20,
                                    script=script, distractors=QUIET))


@pytest.fixture(scope="module")
def moves(scene) -> dict[tuple[str, ...], np.ndarray]:
    return {e.aus: _aligned(scene.render(e.apex)) - _aligned(scene.render(e.onset - 1))
            for e in scene.truth.events}


def _mean(d: np.ndarray, idx: list[int]) -> np.ndarray:
    return d[idx].mean(axis=0)


def test_surprise_raises_brows(moves) -> None:
    d = moves[("AU1", "AU2")]
    up = -(_mean(d, BROWS_L)[1] + _mean(d, BROWS_R)[1]) / 2
    print(f"AU1+2: brows up {up:.2f} px")
    assert up > 2.0


def test_smile_lifts_and_widens_corners(moves) -> None:
    d = moves[("AU12",)]
    up = -(d[61, 1] + d[291, 1]) / 2
    out = (d[291, 0] - d[61, 0]) / 2
    print(f"AU12: corners up {up:.2f} px, out {out:.2f} px")
    assert up > 2.0 and out > 0.5


def test_depressor_lowers_corners(moves) -> None:
    d = moves[("AU15",)]
    down = (d[61, 1] + d[291, 1]) / 2
    print(f"AU15: corners down {down:.2f} px")
    assert down > 2.0


def test_brow_lowerer_lowers_and_gathers_inner_brows(moves, scene) -> None:
    d = moves[("AU4",)]
    down = (_mean(d, INNER_L)[1] + _mean(d, INNER_R)[1]) / 2
    together = (_mean(d, INNER_L)[0] - _mean(d, INNER_R)[0]) / 2
    # MediaPipe's brow points follow the lowering but barely the sideways part (its mesh
    # keeps the brows' spacing), so "together" is checked on the generator's own field at
    # the inner brow ends: the image-left one moves right, the image-right one left.
    event = next(e for e in scene.truth.events if e.aus == ("AU4",))
    field, px = scene.expression_field(event.apex)
    layer = scene.layers[0]
    m = layer.canon_to_scene(event.apex, scene.state(event.apex))
    roi = grid_roi(layer.grid, m, scene.spec.width, scene.spec.height)
    pts = layer.canonical_points(0)
    at = (pts[[55, 285]] @ m[:, :2].T + m[:, 2] - (roi.x0, roi.y0)).round().astype(int)
    gather = (field[at[0, 1], at[0, 0], 0] - field[at[1, 1], at[1, 0], 0]) / 2 / px
    print(f"AU4: inner brows down {down:.2f} px, together {together:.2f} px (MediaPipe); "
          f"generator field: together {gather:.2f} canonical px")
    assert down > 1.5 and gather > 2.0


def test_jaw_drop_lowers_lower_lip(moves) -> None:
    d = moves[("AU1", "AU2", "AU26")]
    down = d[LOWER_LIP, 1].mean()
    print(f"AU26: lower lip down {down:.2f} px")
    assert down > 2.0
