"""A crop window that stays put while the face stays inside it.

Landmark models see the face through a crop. If the crop follows the detection box every
frame, its own noise shifts and rescales the model's input and the landmarks jitter with it;
MediaPipe's video mode also assumes the picture moves only because the face does. So the
window moves only when the face leaves its central area or changes size by more than a
threshold (hysteresis), and it always sits on whole pixels (a plain slice, no resampling).

>>> import numpy as np
>>> w = CropWindow(scale=2.0)
>>> w.update(np.array([100, 100, 200, 200]), (480, 640))
(50, 50, 250, 250)
>>> w.update(np.array([103, 98, 204, 199]), (480, 640))  # small move: same window
(50, 50, 250, 250)
"""

from __future__ import annotations

import numpy as np


class CropWindow:
    """A square crop (scale x the box size) with hysteresis, clipped to the image."""

    def __init__(self, scale: float = 1.8, max_shift: float = 0.2, max_resize: float = 0.25):
        self.scale = scale
        self.max_shift = max_shift
        """Re-centre when the box centre is this far (in box sizes) from the window's."""
        self.max_resize = max_resize
        """Re-size when the box size changes by more than this fraction."""
        self._centre: np.ndarray | None = None
        self._box_size = 0.0
        self._bounds = (0, 0, 0, 0)

    def reset(self) -> None:
        """Forget the window: the next update places a new one."""
        self._centre = None

    def update(self, box: np.ndarray, image_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        """The window (x0, y0, x1, y1 integer image pixels) to crop for a face in ``box``."""
        b = np.asarray(box, dtype=np.float64)
        centre = (b[:2] + b[2:]) / 2
        size = float(max(b[2] - b[0], b[3] - b[1], 1.0))
        if (
            self._centre is None
            or np.abs(centre - self._centre).max() > self.max_shift * self._box_size
            or abs(size / self._box_size - 1.0) > self.max_resize
        ):
            self._centre, self._box_size = centre, size
            self._bounds = self._place(centre, size, image_shape)
        return self._bounds

    def _place(
        self, centre: np.ndarray, size: float, image_shape: tuple[int, ...]
    ) -> tuple[int, int, int, int]:
        h, w = image_shape[:2]
        side = int(round(size * self.scale))
        x0 = int(round(centre[0] - side / 2))
        y0 = int(round(centre[1] - side / 2))
        return max(0, x0), max(0, y0), min(w, x0 + side), min(h, y0 + side)
