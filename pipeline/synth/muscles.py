"""Action units as linear facial muscles (Waters 1987): the HELD-OUT deformation model.

mestream's training generator (:mod:`pipeline.synth.actions`) moves hand-picked landmark
groups along fixed directions and spreads that with a narrow Gaussian RBF. This second
model shares none of that: each action unit is one or two *linear muscles*, a bony
origin and a skin insertion, as in Waters' muscle model ("A muscle model for animating
three-dimensional facial expression", SIGGRAPH 1987). Every one of the 478 mesh points
within the muscle's zone of influence is pulled toward the origin, with a cos^2 fall-off
over the zone; the dense field between the mesh points is a thin-plate spline
(:mod:`pipeline.synth.tps`), and the time course is its own (:func:`muscle_envelope`).
So directions come from anatomy (origin - point, different at every point), the regions
from distances rather than lists, and the spread from a global spline. It is used only
to TEST recognition (never to train or choose anything): figures on it say how a model
trained on the other generator carries over to footage it did not make.

Geometry is read off each base frame's canonical landmarks, so muscles follow the face.
Positions below are canonical px of a 128 px face (x to image-right, y down); sides are
"image-left" (the subject's right) first, mirrored for the image-right side.

Example:
    >>> import numpy as np
    >>> pts = np.zeros((478, 2)); pts[61] = (40, 100); pts[234] = (10, 80)
    >>> d = muscle_displacement(("AU12",), pts)
    >>> d[61].round(2).tolist()          # pulled up and out, toward the zygomatic arch
    [-0.83, -0.55]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

N_POINTS = 478


@dataclass(frozen=True, slots=True)
class Muscle:
    """One linear muscle: ``insertion`` = mean of those landmarks; ``origin`` = mean of
    ``origin_at`` plus ``origin_offset`` (canonical px); points within ``radius`` of the
    insertion move toward the origin."""

    insertion: tuple[int, ...]
    origin_at: tuple[int, ...]
    origin_offset: tuple[float, float]
    radius: float


def _pair(ins_left: tuple[int, ...], ins_right: tuple[int, ...], org_left: tuple[int, ...],
          org_right: tuple[int, ...], offset_left: tuple[float, float], radius: float
          ) -> tuple[Muscle, Muscle]:
    dx, dy = offset_left
    return (Muscle(ins_left, org_left, (dx, dy), radius),
            Muscle(ins_right, org_right, (-dx, dy), radius))


MUSCLES: dict[str, tuple[Muscle, ...]] = {
    # frontalis, medial belly: the inner brows straight up toward the hairline
    "AU1": _pair((55, 107), (285, 336), (55, 107), (285, 336), (0.0, -40.0), 11.0),
    # frontalis, lateral belly: the outer brows up and a little out
    "AU2": _pair((46, 70), (276, 300), (46, 70), (276, 300), (-5.0, -40.0), 11.0),
    # corrugator supercilii: brows down and in, toward the top of the nose bridge
    "AU4": _pair((55, 65), (285, 295), (168,), (168,), (-3.0, 5.0), 12.0),
    # orbicularis oculi, orbital part: the cheek up toward the eye
    "AU6": _pair((117, 118), (346, 347), (33, 133), (362, 263), (0.0, 0.0), 12.0),
    # orbicularis oculi, palpebral part: the lower lid up
    "AU7": _pair((145,), (374,), (33, 133), (362, 263), (0.0, -3.0), 7.0),
    # levator labii superioris alaeque nasi: the alae up and in, toward the bridge
    "AU9": _pair((129, 48), (358, 278), (168,), (168,), (-6.0, 0.0), 9.0),
    # levator labii superioris: the upper lip up, toward the infraorbital rim
    "AU10": _pair((37, 39), (267, 269), (119,), (348,), (0.0, -4.0), 9.0),
    # zygomaticus major: the lip corners up and out, toward the zygomatic arch
    "AU12": _pair((61,), (291,), (234,), (454,), (0.0, 0.0), 10.0),
    # buccinator: the corners straight back (out)
    "AU14": _pair((61,), (291,), (61,), (291,), (-30.0, 0.0), 7.0),
    # depressor anguli oris: the corners down and out, toward the mandible
    "AU15": _pair((61,), (291,), (61,), (291,), (-10.0, 28.0), 9.0),
    # mentalis: the chin boss up toward the lower lip
    "AU17": (Muscle((199, 175), (17,), (0.0, 0.0), 10.0),),
    # risorius: the corners out, a little down, toward the ear
    "AU20": _pair((61,), (291,), (61,), (291,), (-34.0, 8.0), 8.0),
}
"""Action unit -> its muscles (AU26, the jaw drop, is a rotation: :func:`jaw_drop`)."""

JAW_LINE = (61, 291)
"""Lip corners: points below their line move with the jaw."""
JAW_POINTS = (17, 14, 87, 317, 84, 314, 18, 200, 199, 175, 152, 148, 176, 149, 377, 400,
              378, 83, 313, 181, 405, 91, 321, 146, 375, 106, 335, 182, 406, 201, 421,
              208, 428, 171, 396, 140, 369, 32, 262, 194, 418)
"""Lower lip, chin and jaw points that the jaw drop can move."""

KNOWN_AUS = (*MUSCLES, "AU26")


def _falloff(d: np.ndarray, radius: float) -> np.ndarray:
    inside = d < radius
    return np.where(inside, np.cos(0.5 * math.pi * np.minimum(d / radius, 1.0)) ** 2, 0.0)


def muscle_field(muscle: Muscle, points: np.ndarray) -> np.ndarray:
    """(478, 2) pull of one muscle at unit strength (before normalisation)."""
    ins = points[list(muscle.insertion)].mean(axis=0)
    org = points[list(muscle.origin_at)].mean(axis=0) + np.asarray(muscle.origin_offset)
    to_origin = org - points
    length = np.linalg.norm(to_origin, axis=1, keepdims=True)
    direction = to_origin / np.maximum(length, 1e-6)
    w = _falloff(np.linalg.norm(points - ins, axis=1), muscle.radius)
    return direction * w[:, None]


def jaw_drop(points: np.ndarray) -> np.ndarray:
    """(478, 2): the jaw points below the corners' line move down, more the lower they
    are (a rotation about the jaw joints, linearised)."""
    line_y = points[list(JAW_LINE)][:, 1].mean()
    chin_y = points[152, 1]
    out = np.zeros_like(points)
    idx = np.array(JAW_POINTS)
    depth = np.clip((points[idx, 1] - line_y + 2.0) / max(chin_y - line_y, 1.0), 0.0, 1.0)
    out[idx, 1] = 0.4 + 0.6 * depth
    out[idx[depth <= 0.0], 1] = 0.0
    return out


def muscle_displacement(aus: tuple[str, ...], points: np.ndarray) -> np.ndarray:
    """(478, 2) canonical displacement of ``aus`` on a face with canonical landmarks
    ``points`` (478, 2): each AU scaled so its largest point moves 1 px, then summed."""
    unknown = [a for a in aus if a not in KNOWN_AUS]
    if unknown:
        raise ValueError(f"unknown action units {unknown}; known: {sorted(KNOWN_AUS)}")
    total = np.zeros((N_POINTS, 2))
    for au in aus:
        d = jaw_drop(points) if au == "AU26" else sum(
            (muscle_field(m, points) for m in MUSCLES[au]), np.zeros((N_POINTS, 2)))
        peak = float(np.linalg.norm(d, axis=1).max())
        if peak > 0:
            total += d / peak
    return total


def muscle_envelope(i: int, onset: int, apex: int, offset: int) -> float:
    """The held-out time course: a smoothstep rise to the apex, then a quadratic decay
    (a quick release, where the training generator's raised cosine is symmetric in
    shape). Non-zero on every frame onset..offset, 1 exactly at the apex.

    Example:
        >>> [round(muscle_envelope(i, 2, 4, 7), 3) for i in range(1, 9)]
        [0.0, 0.259, 0.741, 1.0, 0.562, 0.25, 0.062, 0.0]
    """
    if i < onset or i > offset:
        return 0.0
    if i <= apex:
        u = (i - onset + 1) / (apex - onset + 1)
        return u * u * (3.0 - 2.0 * u)
    v = (i - apex) / (offset + 1 - apex)
    return (1.0 - v) ** 2
