"""Action units (FACS) as local deformations anchored on MediaPipe's 478 face-mesh points.

An action unit moves groups of landmarks along a direction given in the canonical (aligned)
face frame of :mod:`pipeline.faces.canonical` (x to image-right, y down, 128 px face); the
renderer maps it to the image through each face's own similarity transform, so it scales
with the face and turns with the head. The dense motion between the points comes from
:mod:`pipeline.synth.deformation` (Gaussian RBF): every control point of
:data:`CONTROL_INDICES` that the active action units do not move stays put, as do the
rigid :data:`ANCHOR_INDICES`, so an action unit moves its region only.

MediaPipe indices used ("image-left" = the subject's right side; checked on the astronaut
and the GRID clips):

- brows, image-left: lower 46 53 52 65 55, upper 70 63 105 66 107 (inner end 55/107,
  outer end 46/70); image-right: lower 276 283 282 295 285, upper 300 293 334 296 336;
- eyes, image-left: upper lid 246 161 160 159 158 157 173, lower lid 7 163 144 145 153 154
  155, corners 33 (outer) 133 (inner), iris centre 468; image-right: upper 466 388 387 386
  385 384 398, lower 249 390 373 374 380 381 382, corners 263 362, iris 473;
- nose alae 129 102 48 64 98 / 358 331 278 294 327; cheeks 117 118 119 50 / 346 347 348 280;
- lips: corners 61 78 (image-left) 291 308 (image-right); upper lip 0 37 267 39 269 13;
  lower lip 17 84 314 14 87 317; chin 18 200 199 175 152;
- anchors (never move): eye corners, nose bridge 168 6 197 195, nose tip 1, and the face
  oval except the chin (it moves with AU26/AU17).

Example:
    >>> d = ACTION_UNITS["AU12"].unit_displacement()
    >>> d[CONTROL_INDICES.index(61)].round(2).tolist()   # image-left corner: out and up
    [-0.6, -0.8]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Push:
    """Landmarks that move together, along ``direction`` (canonical px at unit strength);
    ``side``: -1 image-left, +1 image-right, 0 the midline (for per-side variation)."""

    indices: tuple[int, ...]
    direction: tuple[float, float]
    side: int = 0


@dataclass(frozen=True, slots=True)
class ActionUnit:
    """A FACS action unit: its code, name and the landmark groups it pushes."""

    code: str
    name: str
    pushes: tuple[Push, ...]

    def unit_displacement(self, turn_deg: float = 0.0,
                          side_gain: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
        """float64 (len(CONTROL_INDICES), 2): each control point's canonical displacement.

        ``turn_deg`` turns every push (mirrored on the image-right side, so the expression
        stays symmetric in kind) and ``side_gain`` scales (image-left, image-right): the
        domain randomisation of :class:`pipeline.synth.deformation_model.DeformationSpec`.
        """
        out = np.zeros((len(CONTROL_INDICES), 2))
        for push in self.pushes:
            d = np.asarray(push.direction, np.float64)
            if turn_deg:
                a = math.radians(turn_deg) * (-1.0 if push.side > 0 else 1.0)
                c, s = math.cos(a), math.sin(a)
                d = np.array([c * d[0] - s * d[1], s * d[0] + c * d[1]])
            if push.side:
                d = d * side_gain[0 if push.side < 0 else 1]
            for i in push.indices:
                out[CONTROL_INDICES.index(i)] += d
        return out


def _mirror(indices_left: tuple[int, ...], indices_right: tuple[int, ...],
            direction_left: tuple[float, float]) -> tuple[Push, Push]:
    """The same push on both sides; x mirrored for the image-right side."""
    dx, dy = direction_left
    return Push(indices_left, (dx, dy), -1), Push(indices_right, (-dx, dy), 1)


# Landmark groups, (image-left, image-right).
BROW_INNER = ((55, 107, 65, 66), (285, 336, 295, 296))
BROW_MID = ((52, 105), (282, 334))
BROW_OUTER = ((46, 70, 53, 63), (276, 300, 283, 293))
LID_UPPER = ((246, 161, 160, 159, 158, 157, 173), (466, 388, 387, 386, 385, 384, 398))
LID_LOWER = ((7, 163, 144, 145, 153, 154, 155), (249, 390, 373, 374, 380, 381, 382))
IRIS = ((468,), (473,))
CHEEK = ((117, 118, 119, 50), (346, 347, 348, 280))
ALA = ((129, 102, 48, 64, 98), (358, 331, 278, 294, 327))
CORNER = ((61, 78), (291, 308))
UPPER_LIP = ((37, 39), (267, 269))
UPPER_LIP_MID = (0, 13)
LOWER_LIP = ((84,), (314,))
LOWER_LIP_MID = (17, 14, 87, 317)
CHIN = (18, 200, 199, 175, 152)

ACTION_UNITS: dict[str, ActionUnit] = {
    au.code: au
    for au in (
        ActionUnit("AU1", "inner brow raiser", (
            *_mirror(*BROW_INNER, (0.0, -1.0)), *_mirror(*BROW_MID, (0.0, -0.6)))),
        ActionUnit("AU2", "outer brow raiser", (
            *_mirror(*BROW_OUTER, (0.0, -1.0)), *_mirror(*BROW_MID, (0.0, -0.6)))),
        # Down and together; the upper lids give way a little, as the brow pushes the lid
        # skin (without that a strong AU4 would fold the 6 px between brow and lid).
        ActionUnit("AU4", "brow lowerer", (
            *_mirror(*BROW_INNER, (0.7, 0.7)), *_mirror(*BROW_MID, (0.35, 0.5)),
            *_mirror(*LID_UPPER, (0.0, 0.3)))),
        ActionUnit("AU5", "upper lid raiser", (*_mirror(*LID_UPPER, (0.0, -1.0)),)),
        ActionUnit("AU6", "cheek raiser", (
            *_mirror(*CHEEK, (0.0, -1.0)), *_mirror(*LID_LOWER, (0.0, -0.5)))),
        ActionUnit("AU7", "lid tightener", (
            *_mirror(*LID_LOWER, (0.0, -1.0)), *_mirror(*LID_UPPER, (0.0, 0.25)))),
        ActionUnit("AU9", "nose wrinkler", (
            *_mirror(*ALA, (0.0, -1.0)), *_mirror(*UPPER_LIP, (0.0, -0.5)),
            Push(UPPER_LIP_MID, (0.0, -0.4)))),
        ActionUnit("AU10", "upper lip raiser", (
            *_mirror(*UPPER_LIP, (0.0, -1.0)), Push(UPPER_LIP_MID, (0.0, -0.9)),
            *_mirror(*ALA, (0.0, -0.3)))),
        ActionUnit("AU12", "lip corner puller", (*_mirror(*CORNER, (-0.6, -0.8)),)),
        ActionUnit("AU14", "dimpler", (*_mirror(*CORNER, (-0.95, -0.3)),)),
        ActionUnit("AU15", "lip corner depressor", (*_mirror(*CORNER, (-0.25, 0.97)),)),
        ActionUnit("AU17", "chin raiser", (
            Push(CHIN, (0.0, -1.0)), Push(LOWER_LIP_MID, (0.0, -0.6)),
            *_mirror(*LOWER_LIP, (0.0, -0.6)))),
        ActionUnit("AU20", "lip stretcher", (*_mirror(*CORNER, (-1.0, 0.15)),)),
        ActionUnit("AU26", "jaw drop", (
            Push(LOWER_LIP_MID, (0.0, 1.0)), *_mirror(*LOWER_LIP, (0.0, 0.95)),
            Push(CHIN, (0.0, 1.0)))),
    )
}
"""The action units the generator can make, by FACS code."""

ANCHOR_INDICES: tuple[int, ...] = (
    33, 133, 362, 263,             # eye corners
    168, 6, 197, 195, 1,           # nose bridge and tip
    # face oval, without the chin (152 148 176 149 377 400 378), which AU26/AU17 move
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365,
    150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)
"""Landmarks that never move: the deformation is pinned to zero there."""


def _moving_indices() -> tuple[int, ...]:
    seen: dict[int, None] = {}
    for au in ACTION_UNITS.values():
        for push in au.pushes:
            seen.update(dict.fromkeys(push.indices))
    return tuple(seen)


BLINK_PAIRS: tuple[tuple[int, int], ...] = (
    (246, 7), (161, 163), (160, 144), (159, 145), (158, 153), (157, 154), (173, 155),
    (466, 249), (388, 390), (387, 373), (386, 374), (385, 380), (384, 381), (398, 382),
)
"""(upper lid, lower lid) landmark pairs: a blink brings each upper point onto its partner."""

CONTROL_INDICES: tuple[int, ...] = tuple(
    dict.fromkeys(_moving_indices() + IRIS[0] + IRIS[1] + ANCHOR_INDICES)
)
"""All control points of the deformation, in a fixed order (moving points, then anchors)."""


def combo_displacement(aus: tuple[str, ...], turns_deg: dict[str, float] | None = None,
                       side_gain: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """Sum of the unit displacements of ``aus`` at the control points, (C, 2) canonical px
    (``turns_deg``: a turn per action unit, see :meth:`ActionUnit.unit_displacement`)."""
    unknown = [a for a in aus if a not in ACTION_UNITS]
    if unknown:
        raise ValueError(f"unknown action units {unknown}; known: {sorted(ACTION_UNITS)}")
    turns = turns_deg or {}
    return sum((ACTION_UNITS[a].unit_displacement(turns.get(a, 0.0), side_gain) for a in aus),
               np.zeros((len(CONTROL_INDICES), 2)))


# Lips apart for speech-like motion: the jaw drop's own points.
SPEECH_AUS = ("AU26",)
