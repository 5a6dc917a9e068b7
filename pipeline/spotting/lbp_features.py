"""Uniform LBP codes and per-block histograms, vectorised with numpy.

LBP(P=8, R=3): each pixel is compared with 8 neighbours on a circle of radius 3; the
neighbours are sampled with BILINEAR interpolation (the diagonal ones fall between
pixels: (±2.12, ±2.12)), as scikit-image's ``local_binary_pattern`` does. Neighbour ``p``
sits at angle 2 pi p / P, starting at image-right and turning towards image-up (x + R cos,
y - R sin), and sets bit ``p`` when it is >= the centre. "Uniform" patterns (at most two
0/1 transitions around the circle) keep their own bin (P + 1 of them, by number of ones:
the rotation-invariant "riu2" mapping of Ojala et al., the one Li et al.'s baseline uses);
all others share bin P + 1, so a histogram has P + 2 bins. A border of R pixels is left
out.

>>> import numpy as np
>>> patch = np.zeros((7, 7), np.uint8)
>>> patch[3, 3] = 10                       # a bright dot: every neighbour is darker
>>> int(uniform_lbp(patch)[0, 0]), P8_BINS
(0, 10)
>>> patch[:, 6] = 20                       # only the right neighbour is brighter
>>> int(uniform_lbp(patch)[0, 0])
1
>>> float(chi_square(np.ones(4), np.ones(4)))
0.0
"""

from __future__ import annotations

import numpy as np

P8_BINS = 10
"""Bins of a uniform (riu2) LBP histogram with P = 8."""


def _uniform_table(points: int) -> np.ndarray:
    """code -> bin: number of ones for uniform codes, ``points + 1`` otherwise."""
    codes = np.arange(1 << points)
    bits = (codes[:, None] >> np.arange(points)) & 1
    transitions = (bits != np.roll(bits, 1, axis=1)).sum(axis=1)
    return np.where(transitions <= 2, bits.sum(axis=1), points + 1).astype(np.uint8)


_TABLES: dict[int, np.ndarray] = {}


def uniform_lbp(gray: np.ndarray, points: int = 8, radius: float = 3.0) -> np.ndarray:
    """uint8 (H - 2R, W - 2R) uniform LBP bin of every interior pixel."""
    img = gray.astype(np.float32)
    r = int(np.ceil(radius))
    h, w = img.shape
    centre = img[r : h - r, r : w - r]
    code = np.zeros(centre.shape, np.int32)
    for p in range(points):
        angle = 2.0 * np.pi * p / points
        dx, dy = radius * np.cos(angle), -radius * np.sin(angle)
        x0, y0 = int(np.floor(dx)), int(np.floor(dy))
        fx, fy = dx - x0, dy - y0
        # Snap near-integer offsets (the axis neighbours) so they sample exactly.
        if abs(fx) < 1e-6 or abs(fx - 1) < 1e-6:
            x0, fx = int(round(dx)), 0.0
        if abs(fy) < 1e-6 or abs(fy - 1) < 1e-6:
            y0, fy = int(round(dy)), 0.0

        def at(ox: int, oy: int) -> np.ndarray:
            return img[r + oy : h - r + oy, r + ox : w - r + ox]

        value = (1 - fx) * (1 - fy) * at(x0, y0)
        if fx:
            value = value + fx * (1 - fy) * at(x0 + 1, y0)
        if fy:
            value = value + (1 - fx) * fy * at(x0, y0 + 1)
        if fx and fy:
            value = value + fx * fy * at(x0 + 1, y0 + 1)
        # A small tolerance: bilinear sums of equal pixels must compare as equal.
        code |= (value >= centre - 1e-3).astype(np.int32) << p
    table = _TABLES.get(points)
    if table is None:
        table = _TABLES[points] = _uniform_table(points)
    return table[code]


def block_histograms(codes: np.ndarray, grid: int, bins: int) -> np.ndarray:
    """float32 (grid*grid, bins): normalised histogram of each block of a grid x grid cut."""
    h, w = codes.shape
    ys = np.linspace(0, h, grid + 1).astype(int)
    xs = np.linspace(0, w, grid + 1).astype(int)
    block = np.searchsorted(ys, np.arange(h), side="right")[:, None] - 1
    block = block * grid + (np.searchsorted(xs, np.arange(w), side="right")[None, :] - 1)
    flat = block.ravel() * bins + codes.ravel()
    hist = np.bincount(flat, minlength=grid * grid * bins).reshape(grid * grid, bins)
    return (hist / np.maximum(hist.sum(axis=1, keepdims=True), 1)).astype(np.float32)


def chi_square(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Chi-square distance sum (a - b)^2 / (a + b) over the last axis (0/0 = 0)."""
    num = (a - b) ** 2
    den = a + b
    return np.where(den > 0, num / np.where(den > 0, den, 1), 0).sum(axis=-1)
