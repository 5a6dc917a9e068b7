"""Fixtures of the synthetic-footage tests: real faces from ../shared, or the same two
bundled with the repo (configs/examples/media) where ../shared is not beside it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.synth.actions import ACTION_UNITS, CONTROL_INDICES
from pipeline.synth.base_faces import BaseFace, load_base_faces
from pipeline.synth.distractors import DistractorSpec
from pipeline.synth.scene import SyntheticScene
from tests.conftest import REPO, SHARED

REAL = SHARED
ASTRONAUT = REAL / "astronaut.png"
GRID_CLIP = REAL / "grid" / "bbaf2n.mpg"
BUNDLED = {ASTRONAUT: REPO / "configs" / "examples" / "media"
           / "astronaut.png",
           GRID_CLIP: REPO / "configs" / "examples" / "media"
           / "grid_bbaf2n.mpg"}

QUIET = DistractorSpec(blinks_per_minute=0, head_per_minute=0, illumination_per_minute=0,
                       speech_per_minute=0, noise_sigma=0.0)
"""No distractors and no noise: only what a test puts in."""


def _need(path: Path) -> Path:
    if path.exists():
        return path
    if path in BUNDLED and BUNDLED[path].exists():
        return BUNDLED[path]
    pytest.skip(f"real face data missing: {path} (see ../shared/data/real/README.md)")


@pytest.fixture(scope="session")
def astronaut() -> BaseFace:
    return load_base_faces([_need(ASTRONAUT)])[0]


@pytest.fixture(scope="session")
def grid_face() -> BaseFace:
    return load_base_faces([_need(GRID_CLIP)])[0]


def region_mask(scene: SyntheticScene, i: int, aus: tuple[str, ...], face: int = 0,
                pad: float = 6.0) -> tuple[slice, slice]:
    """Scene slices of the box around the control points the AUs move (canonical box
    padded by ``pad`` canonical px), at frame ``i``."""
    layer = scene.layers[face]
    b = layer.base_index(i)
    pts = layer.canonical_points(b)
    idx = sorted({j for a in aus for p in ACTION_UNITS[a].pushes for j in p.indices})
    assert all(j in CONTROL_INDICES for j in idx)
    lo, hi = pts[idx].min(axis=0) - pad, pts[idx].max(axis=0) + pad
    m = layer.canon_to_scene(i, scene.state(i, face))
    corners = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [lo[0], hi[1]], [hi[0], hi[1]]])
    img = corners @ m[:, :2].T + m[:, 2]
    x0, y0 = np.floor(img.min(axis=0)).astype(int)
    x1, y1 = np.ceil(img.max(axis=0)).astype(int)
    return slice(max(0, y0), y1), slice(max(0, x0), x1)
