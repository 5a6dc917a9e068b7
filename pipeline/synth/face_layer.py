"""One face of a scene: where its base frames go in the frame, and how one frame of it is
rendered with a deformation.

Per frame: pick the base frame (a video loops ping-pong, so there is no jump), warp it into
the face's cell of the scene with its placement (subject size and position, plus head
motion), then re-render the face region with one ``cv2.remap`` straight from the base frame
(one interpolation, whatever the deformation), and apply the subject's tone curve. The
RBF solve of each base frame is done once and kept (LRU).

Example (needs the bundled media)::

    layer = FaceLayer(load_base_faces()[0], SubjectLook.draw(0, "astronaut"),
                      Roi(0, 0, 640, 480), fps=30.0)
    cell = layer.render(0, None, DistractorState())     # (480, 640, 3) uint8
"""

from __future__ import annotations

import math
from collections import OrderedDict

import cv2
import numpy as np

from pipeline.faces.canonical import MEDIAPIPE, raw_transform
from pipeline.faces.similarity import apply_transform, invert_similarity
from pipeline.synth.actions import SPEECH_AUS, combo_displacement
from pipeline.synth.base_faces import BaseFace
from pipeline.synth.deformation import (
    CanonicalGrid,
    Roi,
    grid_roi,
    image_field,
    invert_field,
    source_maps,
)
from pipeline.synth.deformation_model import DeformationModel
from pipeline.synth.distractors import DistractorState
from pipeline.synth.subject import SubjectLook

CANONICAL = 128
"""Canonical face size of every displacement (px on a 128 px aligned face)."""
FACE_CENTRE = (64.0, 72.0)
"""Canonical point placed at the subject's position (between eyes and mouth)."""
RBF_CACHE = 96
"""Base frames whose field matrix is kept (1.6 MB each for the RBF model, 5.6 MB for the
muscle model's 478 points: it keeps a third as many)."""
BACKGROUND_CACHE = 80
"""Warped base frames kept for frames without head motion (0.9 MB each at 640x480): the
full-frame warp is the largest cost of a frame, and a GRID clip has 75 frames."""

CONTROL_ROW = DeformationModel().row
"""Row of a MediaPipe landmark in the control-point arrays (displacements) of the
default (training) deformation model."""


class FaceLayer:
    """A base face placed in a cell of the scene."""

    def __init__(self, base: BaseFace, look: SubjectLook, cell: Roi, fps: float,
                 grid: CanonicalGrid | None = None, deformation: DeformationModel | None = None):
        self.base = base
        self.look = look
        self.cell = cell
        self.fps = fps
        self.grid = grid or CanonicalGrid()
        self.deformation = deformation or DeformationModel()
        self._control = np.array(self.deformation.control)
        self._cache_size = RBF_CACHE if not self.deformation.points_dependent else RBF_CACHE // 3
        self._to_canon = [raw_transform(MEDIAPIPE, p, CANONICAL) for p in base.landmarks]
        self._rbf: OrderedDict[int, object] = OrderedDict()
        self._norms: dict[tuple[int, tuple[str, ...]], float] = {}
        self._units: dict[tuple, np.ndarray] = {}
        # Speech is a distractor: the same jaw motion whatever randomises the expressions.
        self._speech_unit = (None if self.deformation.points_dependent
                             else combo_displacement(SPEECH_AUS))
        # Placement from the first base frame: scale so the canonical face is face_frac of
        # the cell height, centre it in the cell, moved by the subject's offset.
        t0 = self._to_canon[0]
        canon_per_px = math.hypot(t0[0, 0], t0[1, 0])
        cw, ch = cell.x1 - cell.x0, cell.y1 - cell.y0
        side = min(look.face_frac * ch, 0.9 * cw)
        self.scale = side * canon_per_px / CANONICAL
        """Scene px per base px."""
        self.px_per_canonical = side / CANONICAL
        """Scene px per canonical px (at rest)."""
        centre_base = apply_transform(invert_similarity(t0), np.array([FACE_CENTRE]))[0]
        free_x, free_y = max(0.0, (cw - side) / 2), max(0.0, (ch - side) / 2)
        self._centre_base = centre_base
        self._target = (cell.x0 + cw / 2 + look.offset[0] * free_x,
                        cell.y0 + ch / 2 + look.offset[1] * free_y)
        self._lut_cache: tuple[float, np.ndarray] | None = None
        self._backgrounds: OrderedDict[int, np.ndarray] = OrderedDict()

    # -- time and geometry ---------------------------------------------------------------

    def base_index(self, i: int) -> int:
        """Base frame shown at scene frame ``i``: a video plays at its own rate, ping-pong."""
        n = self.base.frames.shape[0]
        if n == 1:
            return 0
        k = round(i * (self.base.fps or self.fps) / self.fps)
        period = 2 * (n - 1)
        k %= period
        return k if k < n else period - k

    def placement(self, state: DistractorState) -> np.ndarray:
        """(2, 3) similarity base px -> scene px, with the head motion of ``state``."""
        a = math.radians(state.angle_deg)
        c, s = self.scale * math.cos(a), self.scale * math.sin(a)
        rot = np.array([[c, -s], [s, c]])
        shift = np.array(state.shift) * self.px_per_canonical
        t = np.array(self._target) + shift - rot @ self._centre_base
        return np.hstack([rot, t[:, None]])

    def canonical_points(self, b: int) -> np.ndarray:
        """All 478 landmarks of base frame ``b`` in canonical px."""
        return apply_transform(self._to_canon[b], self.base.landmarks[b])

    def canon_to_base(self, b: int) -> np.ndarray:
        return invert_similarity(self._to_canon[b])

    def field(self, b: int):
        """The deformation model's field (RbfField or TpsField) on base frame ``b``."""
        field = self._rbf.get(b)
        if field is None:
            field = self.deformation.field(self.canonical_points(b)[self._control], self.grid)
            self._rbf[b] = field
            if len(self._rbf) > self._cache_size:
                self._rbf.popitem(last=False)
        else:
            self._rbf.move_to_end(b)
        return field

    # -- control displacements ----------------------------------------------------------

    def combo_unit(self, b: int, aus: tuple[str, ...]) -> np.ndarray:
        """Control displacements of ``aus`` scaled so the grid field peaks at 1 canonical px
        on base frame ``b``: intensity then means the largest displacement anywhere."""
        unit = self._unit(b, aus)
        norm = self._norms.get((b, aus))
        if norm is None:
            f = self.field(b).grid_field(unit)
            norm = self._norms[(b, aus)] = float(np.sqrt((f**2).sum(axis=-1)).max())
        return unit / norm

    def _unit(self, b: int, aus: tuple[str, ...]) -> np.ndarray:
        """The model's (C, 2) displacement of ``aus``, cached (per base frame when it
        depends on the frame's landmarks)."""
        key = (b, aus) if self.deformation.points_dependent else aus
        unit = self._units.get(key)
        if unit is None:
            if self.deformation.points_dependent and len(self._units) >= 4 * RBF_CACHE:
                self._units.clear()
            unit = self._units[key] = self.deformation.unit(aus, self.canonical_points(b))
        return unit

    def blink_displacement(self, b: int, closure: float) -> np.ndarray:
        """Upper lids onto the lower lids by ``closure``; the iris goes half-way (it is
        covered by the lid coming down)."""
        m = self.deformation
        pts = self.canonical_points(b)[self._control]
        d = np.zeros((len(self._control), 2))
        d[m.blink_upper] = (pts[m.blink_lower] - pts[m.blink_upper]) * closure
        d[m.iris] = d[m.blink_upper].reshape(2, -1, 2).mean(axis=1) * 0.5
        return d

    def speech_displacement(self, opening_px: float, b: int = 0) -> np.ndarray:
        if self._speech_unit is not None:
            return self._speech_unit * opening_px
        return self._unit(b, SPEECH_AUS) * opening_px

    # -- rendering ----------------------------------------------------------------------

    def render(self, i: int, displacement: np.ndarray | None, state: DistractorState,
               base_index: int | None = None) -> np.ndarray:
        """The cell at frame ``i``: uint8 (cell h, cell w, 3), tone curve applied.

        ``displacement``: (C, 2) canonical forward displacement of the control points, or
        None for the undeformed face.
        """
        b = self.base_index(i) if base_index is None else base_index
        image = self.base.frames[b]
        cell = self.cell
        place = self.placement(state)
        out = self._background(b, place, state.shift == (0.0, 0.0) and state.angle_deg == 0.0)
        canon_to_scene = _compose(place, self.canon_to_base(b))
        roi = grid_roi(self.grid, canon_to_scene, cell.x1, cell.y1)
        roi = Roi(max(roi.x0, cell.x0), max(roi.y0, cell.y0), roi.x1, roi.y1)
        if not roi.empty:
            field = None
            if displacement is not None:
                field = self.image_field(b, displacement, canon_to_scene, roi)
            map_x, map_y = source_maps(field, roi, invert_similarity(place))
            patch = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
            out[roi.y0 - cell.y0 : roi.y1 - cell.y0, roi.x0 - cell.x0 : roi.x1 - cell.x0] = patch
        return cv2.LUT(out, self.lut(state.gain))

    def _background(self, b: int, place: np.ndarray, at_rest: bool) -> np.ndarray:
        """Base frame ``b`` warped into the cell (a fresh array the caller may modify).
        Edges are replicated, never reflected: a reflected border mirrors the face into
        a second, upside-down face that a detector then tracks."""
        if at_rest and b in self._backgrounds:
            self._backgrounds.move_to_end(b)
            return self._backgrounds[b].copy()
        cell = self.cell
        to_cell = place.copy()
        to_cell[:, 2] -= (cell.x0, cell.y0)
        out = cv2.warpAffine(self.base.frames[b], to_cell, (cell.x1 - cell.x0, cell.y1 - cell.y0),
                             flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if at_rest:
            self._backgrounds[b] = out.copy()
            if len(self._backgrounds) > BACKGROUND_CACHE:
                self._backgrounds.popitem(last=False)
        return out

    def image_field(self, b: int, displacement: np.ndarray, canon_to_scene: np.ndarray,
                    roi: Roi) -> np.ndarray:
        """Dense backward displacement (scene px) over ``roi`` for base frame ``b``."""
        forward = self.field(b).grid_field(displacement)
        return image_field(invert_field(forward, self.grid), self.grid, canon_to_scene, roi)

    def canon_to_scene(self, i: int, state: DistractorState) -> np.ndarray:
        """(2, 3) canonical px -> scene px at frame ``i``."""
        return _compose(self.placement(state), self.canon_to_base(self.base_index(i)))

    def lut(self, gain: float) -> np.ndarray:
        if self._lut_cache is None or self._lut_cache[0] != gain:
            self._lut_cache = (gain, self.look.lut(gain))
        return self._lut_cache[1]


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """(2, 3) affine ``outer o inner``."""
    return outer[:, :2] @ inner + np.hstack([np.zeros((2, 2)), outer[:, 2:]])
