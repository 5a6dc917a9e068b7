"""Which deformation model plants a scene's expressions, and how it is varied.

Two independent models (``DeformationSpec.model``):

- ``rbf`` (mestream's generator, the TRAINING domain): landmark groups pushed along fixed
  directions (:mod:`pipeline.synth.actions`), a Gaussian RBF field between the control
  points (:mod:`pipeline.synth.deformation`), a raised-cosine time course. Domain
  randomisation turns each action unit's directions (``turn_deg``, mirrored per side),
  scales the two sides (``side_gain``), widens or narrows the kernel (``sigma_px``) and
  picks another time course (``envelope``).
- ``muscle`` (the HELD-OUT domain, never used to train or choose anything): Waters-style
  linear muscles on all 478 mesh points, a thin-plate spline between them and its own
  time course (:mod:`pipeline.synth.muscles`, :mod:`pipeline.synth.tps`).

Example:
    >>> spec = DeformationSpec.randomised(np.random.default_rng(0))
    >>> spec.model, spec.envelope in ENVELOPES
    ('rbf', True)
    >>> DeformationModel(DeformationSpec("muscle")).control[:3]
    (0, 1, 2)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from pipeline.synth.actions import (
    ACTION_UNITS,
    BLINK_PAIRS,
    CONTROL_INDICES,
    IRIS,
    combo_displacement,
)
from pipeline.synth.deformation import SIGMA_PX, CanonicalGrid, RbfField
from pipeline.synth.envelope import ENVELOPES
from pipeline.synth.muscles import N_POINTS, muscle_displacement, muscle_envelope
from pipeline.synth.tps import TpsField

Model = Literal["rbf", "muscle"]
MODELS = ("rbf", "muscle")


@dataclass(frozen=True)
class DeformationSpec:
    """One scene's deformation model and its variation (the defaults are mestream's
    original generator, bit for bit)."""

    model: Model = "rbf"
    sigma_px: float = SIGMA_PX
    turn_deg: dict[str, float] = field(default_factory=dict)
    side_gain: tuple[float, float] = (1.0, 1.0)
    envelope: str = "raised_cosine"

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"unknown deformation model {self.model!r}; expected one of "
                             f"{list(MODELS)}")
        if self.envelope not in ENVELOPES:
            raise ValueError(f"unknown envelope {self.envelope!r}; expected one of "
                             f"{sorted(ENVELOPES)}")

    @classmethod
    def randomised(cls, rng: np.random.Generator, max_turn_deg: float = 20.0,
                   sigmas: tuple[float, ...] = (4.5, 6.0, 8.0)) -> DeformationSpec:
        """A training-domain draw: every action unit turned by up to ``max_turn_deg``, the
        sides scaled 0.7-1.3, one of ``sigmas`` (few values, so the per-base-frame RBF
        solves are shared) and one of the training time courses."""
        turns = {au: float(rng.uniform(-max_turn_deg, max_turn_deg)) for au in ACTION_UNITS}
        gain = (float(rng.uniform(0.7, 1.3)), float(rng.uniform(0.7, 1.3)))
        return cls("rbf", float(sigmas[int(rng.integers(len(sigmas)))]), turns, gain,
                   sorted(ENVELOPES)[int(rng.integers(len(ENVELOPES)))])

    @property
    def field_key(self) -> tuple[str, float]:
        """What the per-base-frame field solve depends on (for caches shared by scenes)."""
        return (self.model, self.sigma_px if self.model == "rbf" else 0.0)


class DeformationModel:
    """The control points, field, action-unit displacements and time course of a spec."""

    def __init__(self, spec: DeformationSpec | None = None):
        self.spec = spec or DeformationSpec()
        if self.spec.model == "rbf":
            self.control: tuple[int, ...] = CONTROL_INDICES
        else:
            self.control = tuple(range(N_POINTS))
        self.row = {idx: k for k, idx in enumerate(self.control)}
        self.blink_upper = np.array([self.row[u] for u, _ in BLINK_PAIRS])
        self.blink_lower = np.array([self.row[lo] for _, lo in BLINK_PAIRS])
        self.iris = np.array([self.row[IRIS[0][0]], self.row[IRIS[1][0]]])
        self.points_dependent = self.spec.model == "muscle"
        """True when an action unit's displacement depends on the base frame's landmarks."""

    def field(self, centres: np.ndarray, grid: CanonicalGrid) -> RbfField | TpsField:
        """The interpolant from the control points (C, 2 canonical px) to the grid."""
        if self.spec.model == "rbf":
            return RbfField(centres, grid, sigma=self.spec.sigma_px)
        return TpsField(centres, grid)

    def unit(self, aus: tuple[str, ...], points: np.ndarray) -> np.ndarray:
        """(C, 2) canonical displacement of ``aus`` at the control points (before the
        per-frame normalisation); ``points``: the frame's 478 canonical landmarks."""
        if self.spec.model == "rbf":
            return combo_displacement(aus, self.spec.turn_deg, self.spec.side_gain)
        return muscle_displacement(aus, points)

    def envelope(self, i: int, onset: int, apex: int, offset: int) -> float:
        if self.spec.model == "muscle":
            return muscle_envelope(i, onset, apex, offset)
        return ENVELOPES[self.spec.envelope](i, onset, apex, offset)
