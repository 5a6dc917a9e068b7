"""Thin-plate spline displacement fields: the held-out deformation model's interpolant.

A thin-plate spline (Bookstein 1989) interpolates the control points' displacements with
the kernel ``U(r) = r^2 log r`` plus an affine part: the smoothest (least bending energy)
field through them. It is global where :class:`pipeline.synth.deformation.RbfField`'s
Gaussian is local, so a second, independent way to plant expressions differs from the
training generator in how motion spreads, not only in where it starts. The canonical
grid's border nodes are pinned to zero as extra control points, so the field fades to
nothing at the grid's edge (no seam when the region is pasted back).

The interface is :class:`RbfField`'s: ``matrix`` (G, C) maps control displacements to
grid-node displacements, solved once per base frame.

Example:
    >>> import numpy as np
    >>> from pipeline.synth.deformation import CanonicalGrid
    >>> grid = CanonicalGrid()
    >>> tps = TpsField(np.array([[62.0, 62.0], [62.0, 98.0]]), grid)   # two grid nodes
    >>> f = tps.grid_field(np.array([[0.0, -2.0], [0.0, 0.0]]))
    >>> round(float(f[18, 26, 1]), 2), bool(abs(f[[0, -1]]).max() < 0.02)   # border: ~0
    (-2.0, True)
"""

from __future__ import annotations

import numpy as np

from pipeline.synth.deformation import CanonicalGrid

SCALE_PX = 128.0
"""Coordinates are divided by this before the solve (a well-conditioned system)."""
TPS_RIDGE = 1e-4
"""Smoothing term: mesh points 1-2 px apart make the exact interpolant ring."""
BORDER_EVERY = 2
"""Every 2nd border node of the grid is pinned to zero (the nodes between stay < 0.02 px)."""


def _kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d2 = (a[:, None, 0] - b[None, :, 0]) ** 2 + (a[:, None, 1] - b[None, :, 1]) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        u = 0.5 * d2 * np.log(d2)
    return np.nan_to_num(u, nan=0.0, posinf=0.0, neginf=0.0)


def border_nodes(grid: CanonicalGrid, every: int = BORDER_EVERY) -> np.ndarray:
    """float64 (B, 2) canonical px of the grid's outermost nodes (every ``every``-th)."""
    pts = grid.points().reshape(grid.rows, grid.cols, 2)
    ring = np.concatenate([pts[0, ::every], pts[-1, ::every], pts[1:-1:every, 0],
                           pts[1:-1:every, -1]])
    return ring


class TpsField:
    """Thin-plate spline from ``centres`` (C, 2) canonical px to the grid's nodes."""

    def __init__(self, centres: np.ndarray, grid: CanonicalGrid, ridge: float = TPS_RIDGE):
        self.grid = grid
        pins = border_nodes(grid)
        ctrl = np.concatenate([centres, pins]) / SCALE_PX
        n = len(ctrl)
        p = np.hstack([np.ones((n, 1)), ctrl])
        system = np.zeros((n + 3, n + 3))
        system[:n, :n] = _kernel(ctrl, ctrl) + ridge * np.eye(n)
        system[:n, n:] = p
        system[n:, :n] = p.T
        # Columns of the inverse for the free control points: their displacements are the
        # only non-zero right-hand sides (the pins and the affine constraints are zero).
        rhs = np.zeros((n + 3, len(centres)))
        rhs[: len(centres)] = np.eye(len(centres))
        coef = np.linalg.solve(system, rhs)                     # (n + 3, C)
        nodes = grid.points() / SCALE_PX
        basis = np.hstack([_kernel(nodes, ctrl), np.ones((len(nodes), 1)), nodes])
        self.matrix = np.ascontiguousarray(basis @ coef, dtype=np.float32)

    def grid_field(self, displacements: np.ndarray) -> np.ndarray:
        """float32 (rows, cols, 2): the forward displacement at each grid node."""
        g = self.grid
        return (self.matrix @ displacements.astype(np.float32)).reshape(g.rows, g.cols, 2)
