"""The aligned face cut into a grid of cells, with the cells a spotter must not look at.

Motion is averaged per cell (8 x 8 cells by default): a 1-3 px expression moves a few
cells coherently while per-pixel flow noise averages out. Cells outside the face ellipse
(background, hair) are dropped, and so are the eyes: a blink moves the lids by several px,
far more than any micro-expression, so the eye cells are masked (as MEAN / SoftNet mask
the eyes). The eye boxes come from the landmarks when the frame has MediaPipe's 478
points, else from fixed canonical boxes read off the GRID frames (eye points span
x 0.26..0.74, y 0.41..0.48, :mod:`pipeline.faces.canonical`).

>>> cells = FaceCells(grid=8)
>>> mask = cells.valid(size=64, points=None)
>>> mask.shape, int(mask.sum()) < 64
((8, 8), True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# MediaPipe eye corners (outer, inner) of the image-left and image-right eye. The boxes are
# built from the corners only: the lid points follow a blink, and a box that shrinks as the
# lid closes would unmask the lid skin exactly when it moves.
EYE_CORNERS = ((33, 133), (263, 362))
EYE_HEIGHT = (0.35, 0.30)
"""Eye box above / below the corner line, as a share of the eye width (the lids of the
GRID frames span y 0.41..0.48 around corners at 0.45, with eyes 0.14 wide)."""
FIXED_EYES = ((0.22, 0.37, 0.46, 0.52), (0.54, 0.37, 0.78, 0.52))
"""Normalised canonical eye boxes (x0, y0, x1, y1) used without landmarks."""


@dataclass(frozen=True, slots=True)
class FaceCells:
    """``grid`` x ``grid`` cells; ``eye_pad`` pads the eye boxes (fraction of the face
    side, 0.04 = 5 px on a 128 px face: the lids' skin moves a little beyond the contour);
    ``ellipse`` = (cx, cy, rx, ry) normalised, the face area kept."""

    grid: int = 8
    eye_pad: float = 0.04
    ellipse: tuple[float, float, float, float] = (0.5, 0.55, 0.46, 0.55)
    min_valid: float = 0.5
    """A cell counts when at least this share of its pixels is valid."""

    def pixel_mask(self, size: int, points: np.ndarray | None, canonical: float = 128.0
                   ) -> np.ndarray:
        """bool (size, size): True where motion counts."""
        yy, xx = (np.mgrid[0:size, 0:size] + 0.5) / size
        cx, cy, rx, ry = self.ellipse
        mask = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0
        for x0, y0, x1, y1 in self.eye_boxes(points, canonical):
            p = self.eye_pad
            mask &= ~((xx >= x0 - p) & (xx <= x1 + p) & (yy >= y0 - p) & (yy <= y1 + p))
        return mask

    def eye_boxes(self, points: np.ndarray | None, canonical: float = 128.0
                  ) -> list[tuple[float, float, float, float]]:
        """Normalised eye boxes from the mesh (468 or 478 points, canonical px), or the fixed
        ones."""
        if points is None or len(points) < 468:  # no mesh (irises not needed)
            return list(FIXED_EYES)
        boxes = []
        for a, b in EYE_CORNERS:
            pa, pb = points[a] / canonical, points[b] / canonical
            width = float(np.linalg.norm(pa - pb))
            cy = float(pa[1] + pb[1]) / 2
            x0, x1 = sorted((float(pa[0]), float(pb[0])))
            boxes.append((x0, cy - EYE_HEIGHT[0] * width, x1, cy + EYE_HEIGHT[1] * width))
        return boxes

    def near_eyes(self, points: np.ndarray | None, pad: tuple[float, float] = (0.12, 0.11)
                  ) -> np.ndarray:
        """bool (grid*grid,): cells whose centre lies within ``pad`` (x, y, normalised) of
        an eye box. A blink moves the lid skin up to the lower brow (on the synthetic
        blinks the row above the eye mask reached z = 50 against a p99 of 6 without
        blinks), so while the lids move these cells are ignored."""
        c = self.centres() + 0.5
        near = np.zeros(len(c), bool)
        for x0, y0, x1, y1 in self.eye_boxes(points):
            near |= ((c[:, 0] >= x0 - pad[0]) & (c[:, 0] <= x1 + pad[0])
                     & (c[:, 1] >= y0 - pad[1]) & (c[:, 1] <= y1 + pad[1]))
        return near

    def weights(self, size: int, points: np.ndarray | None) -> np.ndarray:
        """float32 (grid, grid): share of valid pixels per cell."""
        mask = self.pixel_mask(size, points).astype(np.float32)
        c = size // self.grid
        return mask[: c * self.grid, : c * self.grid].reshape(
            self.grid, c, self.grid, c).mean(axis=(1, 3))

    def valid(self, size: int, points: np.ndarray | None) -> np.ndarray:
        """bool (grid, grid): the cells that count."""
        return self.weights(size, points) >= self.min_valid

    def centres(self) -> np.ndarray:
        """float64 (grid*grid, 2): cell centres, normalised, relative to the face centre."""
        g = (np.arange(self.grid) + 0.5) / self.grid - 0.5
        yy, xx = np.meshgrid(g, g, indexing="ij")
        return np.stack([xx.ravel(), yy.ravel()], axis=1)

    def cell_means(self, flow: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """float32 (grid*grid, 2): mean flow of the valid pixels of each cell (0 where none)."""
        size = flow.shape[0]
        c = size // self.grid
        n = c * self.grid
        m = mask[:n, :n].astype(np.float32)
        f = flow[:n, :n] * m[..., None]
        sums = f.reshape(self.grid, c, self.grid, c, 2).sum(axis=(1, 3))
        counts = m.reshape(self.grid, c, self.grid, c).sum(axis=(1, 3))
        return (sums / np.maximum(counts, 1.0)[..., None]).reshape(-1, 2)
