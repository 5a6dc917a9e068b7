"""Smooth displacement fields from sparse control points, applied to a face region only.

The field is a Gaussian radial-basis interpolation in the canonical face frame (128 px
face): the moving landmarks get their displacement, every other control point (rigid
anchors, landmarks of inactive action units) gets zero, so motion stays local. It is
evaluated on a coarse canonical grid (3 px) with one precomputed matrix per base frame,
``grid = P @ displacements``, then inverted (the renderer samples the source where each
output pixel came from), warped to the face's image region with ``cv2.warpAffine`` and
applied with one ``cv2.remap`` (float maps, bilinear: sub-pixel motion survives).

Example:
    >>> grid = CanonicalGrid()
    >>> rbf = RbfField(np.array([[62.0, 62.0], [62.0, 98.0]]), grid)  # two grid nodes
    >>> field = rbf.grid_field(np.array([[0.0, -2.0], [0.0, 0.0]]))
    >>> field.shape, round(float(field[..., 1].min()), 2)
    ((54, 54, 2), -2.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SIGMA_PX = 6.0
"""Gaussian RBF width, canonical px (128 px face): brows sit only 6-9 px above the upper
lids, so a wider kernel would drag the eyes along with the brows."""
RIDGE = 1e-3
"""Tikhonov term of the RBF solve: neighbouring mesh points (lip corner 61 and 78 are 1.5 px
apart) make the kernel matrix nearly singular without it."""


@dataclass(frozen=True, slots=True)
class CanonicalGrid:
    """A coarse grid over the canonical face with a margin, in canonical px.

    It reaches from above the forehead points to below the chin (y up to 1.3 x 128), so the
    field is zero at its border and the warped region has no seam.
    """

    x0: float = -16.0
    y0: float = 8.0
    step: float = 3.0
    cols: int = 54
    rows: int = 54

    def points(self) -> np.ndarray:
        """float64 (rows * cols, 2) canonical (x, y) of the nodes, row-major."""
        xs = self.x0 + self.step * np.arange(self.cols)
        ys = self.y0 + self.step * np.arange(self.rows)
        gx, gy = np.meshgrid(xs, ys)
        return np.stack([gx.ravel(), gy.ravel()], axis=1)

    def corners(self) -> np.ndarray:
        """The 4 canonical corners of the grid, float64 (4, 2)."""
        x1 = self.x0 + self.step * (self.cols - 1)
        y1 = self.y0 + self.step * (self.rows - 1)
        return np.array([[self.x0, self.y0], [x1, self.y0], [self.x0, y1], [x1, y1]])

    def index_to_canonical(self) -> np.ndarray:
        """(2, 3) affine: grid (column, row) -> canonical px."""
        return np.array([[self.step, 0.0, self.x0], [0.0, self.step, self.y0]])


def _gaussian(a: np.ndarray, b: np.ndarray, sigma: float) -> np.ndarray:
    d2 = (a[:, None, 0] - b[None, :, 0]) ** 2 + (a[:, None, 1] - b[None, :, 1]) ** 2
    return np.exp(d2 * (-0.5 / (sigma * sigma)))


class RbfField:
    """Gaussian RBF interpolation from fixed control points to the grid nodes.

    ``centres``: (C, 2) canonical px of the control points of one base frame. The solve is
    done once: ``matrix`` (G, C) maps control displacements to node displacements.
    """

    def __init__(self, centres: np.ndarray, grid: CanonicalGrid, sigma: float = SIGMA_PX,
                 ridge: float = RIDGE):
        self.grid = grid
        k = _gaussian(centres, centres, sigma) + ridge * np.eye(len(centres))
        phi = _gaussian(grid.points(), centres, sigma)
        # OpenCV's Cholesky: numpy's threaded LAPACK took 10-90 ms here on 2 busy cores.
        ok, sol = cv2.solve(k, np.ascontiguousarray(phi.T), flags=cv2.DECOMP_CHOLESKY)
        if not ok:
            raise np.linalg.LinAlgError("RBF kernel matrix is not positive definite")
        self.matrix = np.ascontiguousarray(sol.T, dtype=np.float32)

    def grid_field(self, displacements: np.ndarray) -> np.ndarray:
        """float32 (rows, cols, 2): the forward displacement at each grid node."""
        g = self.grid
        return (self.matrix @ displacements.astype(np.float32)).reshape(g.rows, g.cols, 2)


def invert_field(forward: np.ndarray, grid: CanonicalGrid, iterations: int = 2) -> np.ndarray:
    """The backward field B with B(x) = F(x - B(x)) on the grid (fixed-point iterations).

    The renderer samples the source at ``x - B(x)``; using F itself there would misplace
    content by F's change over F's own length (1 px at a 10 px macro brow raise).
    """
    rows, cols = forward.shape[:2]
    base_x, base_y = np.meshgrid(np.arange(cols, dtype=np.float32),
                                 np.arange(rows, dtype=np.float32))
    back = forward
    for _ in range(iterations):
        mx = base_x - back[..., 0] / grid.step
        my = base_y - back[..., 1] / grid.step
        back = cv2.remap(forward, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return back


@dataclass(frozen=True, slots=True)
class Roi:
    """An integer pixel rectangle [x0, x1) x [y0, y1)."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def empty(self) -> bool:
        return self.x1 <= self.x0 or self.y1 <= self.y0


def grid_roi(grid: CanonicalGrid, canon_to_image: np.ndarray, width: int, height: int) -> Roi:
    """The image rectangle covered by the grid under ``canon_to_image``, clipped."""
    c = grid.corners() @ canon_to_image[:, :2].T + canon_to_image[:, 2]
    x0, y0 = np.floor(c.min(axis=0)).astype(int)
    x1, y1 = np.ceil(c.max(axis=0)).astype(int) + 1
    return Roi(max(0, x0), max(0, y0), min(width, x1), min(height, y1))


def image_field(backward: np.ndarray, grid: CanonicalGrid, canon_to_image: np.ndarray,
                roi: Roi) -> np.ndarray:
    """Dense backward displacement in image px over ``roi``: float32 (h, w, 2).

    Canonical vectors are turned and scaled by the similarity's linear part, then the grid
    is warped to the region (bilinear; zero outside the grid).
    """
    lin = canon_to_image[:, :2]
    vectors = (backward.reshape(-1, 2) @ lin.T.astype(np.float32)).reshape(backward.shape)
    m = np.vstack([canon_to_image, [0.0, 0.0, 1.0]]) @ np.vstack(
        [grid.index_to_canonical(), [0.0, 0.0, 1.0]])
    m[0, 2] -= roi.x0
    m[1, 2] -= roi.y0
    return cv2.warpAffine(vectors, m[:2], (roi.x1 - roi.x0, roi.y1 - roi.y0),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def source_maps(field: np.ndarray | None, roi: Roi, scene_to_source: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """cv2.remap maps (float32) for the region: output pixel x samples the source image at
    ``scene_to_source(x - field(x))``; ``field`` None = no deformation."""
    xs = np.arange(roi.x0, roi.x1, dtype=np.float32)
    ys = np.arange(roi.y0, roi.y1, dtype=np.float32)
    a = scene_to_source.astype(np.float32)
    map_x = (a[0, 0] * xs)[None, :] + (a[0, 1] * ys + a[0, 2])[:, None]
    map_y = (a[1, 0] * xs)[None, :] + (a[1, 1] * ys + a[1, 2])[:, None]
    if field is not None:
        map_x -= a[0, 0] * field[..., 0] + a[0, 1] * field[..., 1]
        map_y -= a[1, 0] * field[..., 0] + a[1, 1] * field[..., 1]
    return map_x, map_y
