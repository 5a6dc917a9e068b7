"""The MediaPipe face mesh model run directly by LiteRT: 468 points, one model call a frame.

MediaPipe's legacy ``FaceMesh`` graph (``refine_landmarks=True``) spends about 3.5 ms of CPU
a frame on a 640x480 stream here, of which the model is about half: the rest is the graph
(its image conversion, region-of-interest and tracking calculators, protobuf landmarks).
This landmarker feeds ``face_landmark.tflite`` (the 468-point mesh shipped in the same
mediapipe 0.10.21 wheel, Apache-2.0) through the LiteRT interpreter (``ai-edge-litert``,
Google's TFLite runtime) with MediaPipe's own region of interest, done in numpy/OpenCV:

- the region is a square of 1.5 x the landmarks' extent (1.5 x the detection box on a
  track's first frame), rotated so the outer eye corners (33, 263) lie level, as
  MediaPipe's ``face_landmark_front`` graph places it;
- the region is held still while the face stays inside it (a moving crop makes the mesh
  jitter; :mod:`pipeline.faces.crop_window` says why), and moved when the face's centre,
  size or roll leave a tolerance;
- the input is the region warped to 192 x 192 RGB in [0, 1]; the output is 468 (x, y, z)
  in those pixels and a face-presence logit, mapped back to image pixels.

The refined model (``face_landmark_with_attention.tflite``: iris points and refined lids
and lips) needs MediaPipe's custom operators and does not run outside its graph. Its 10
iris points are used by nothing at run time (alignment uses eye corners and the nose
bridge; the spotters use lids, mouth corners and mesh points below 468).
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import cv2
import numpy as np

from pipeline.faces.canonical import MEDIAPIPE468
from pipeline.faces.images import to_rgb
from pipeline.faces.types import Landmarks

INPUT = 192
"""The model's input side in pixels."""
ROI_SCALE = 1.5
"""Region side over the face's extent (MediaPipe: ``scale_x/scale_y: 1.5``)."""
EYE_LINE = (33, 263)
"""The outer eye corners whose line sets the region's rotation (MediaPipe's choice)."""
MIN_PRESENCE = 0.5
"""Face-presence probability under which the face counts as lost."""


def mesh_model_path() -> Path:
    """``face_landmark.tflite`` inside the installed mediapipe wheel (found without importing
    mediapipe)."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError('the mesh model ships in mediapipe: pip install --no-deps '
                           '"mediapipe==0.10.21"')
    path = Path(spec.submodule_search_locations[0]) / "modules/face_landmark/face_landmark.tflite"
    if not path.is_file():
        raise RuntimeError(f"{path} is missing: mediapipe 0.10.21 ships it (later wheels "
                           "do not)")
    return path


class Region:
    """A square region of interest: centre (x, y), side and rotation (radians), with the
    affine maps between image pixels and the model's input pixels."""

    __slots__ = ("centre", "side", "angle", "to_input", "to_image")

    def __init__(self, centre: np.ndarray, side: float, angle: float):
        self.centre, self.side, self.angle = centre, side, angle
        k = INPUT / side
        c, s = math.cos(angle) * k, math.sin(angle) * k
        # input = k R(-angle) (p - centre) + INPUT / 2
        self.to_input = np.array([[c, s, 0.0], [-s, c, 0.0]])
        self.to_input[:, 2] = INPUT / 2 - self.to_input[:, :2] @ centre
        self.to_image = cv2.invertAffineTransform(self.to_input)

    def holds(self, other: Region, max_shift: float, max_resize: float,
              max_turn: float) -> bool:
        """Whether ``other`` is close enough to this region to keep this one."""
        return (float(np.abs(other.centre - self.centre).max()) <= max_shift * self.side
                and abs(other.side / self.side - 1.0) <= max_resize
                and abs(other.angle - self.angle) <= max_turn)


def region_from_points(points: np.ndarray) -> Region:
    """MediaPipe's region from landmarks: rotated level on the eye line, 1.5 x the points'
    extent in that rotated frame, centred on it."""
    a, b = points[EYE_LINE[0]], points[EYE_LINE[1]]
    angle = math.atan2(float(b[1] - a[1]), float(b[0] - a[0]))
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, s], [-s, c]])           # image -> level frame
    level = points @ rot.T
    lo, hi = level.min(axis=0), level.max(axis=0)
    centre = ((lo + hi) / 2) @ rot               # back to image (rot is orthonormal)
    side = float((hi - lo).max()) * ROI_SCALE
    return Region(centre.astype(np.float64), side, angle)


def region_from_box(box: np.ndarray) -> Region:
    """The region for a detector's box (no rotation known): 1.5 x its longer side."""
    b = np.asarray(box, dtype=np.float64)
    side = float(max(b[2] - b[0], b[3] - b[1], 1.0)) * ROI_SCALE
    return Region((b[:2] + b[2:]) / 2, side, 0.0)


class LiteRTMeshLandmarker:
    """One track's 468-point mesh, run by LiteRT on a held region of interest.

    ``max_shift`` (in region sides), ``max_resize`` (fraction) and ``max_turn_deg``: how
    far the region MediaPipe would place may drift from the held one before it moves.
    """

    scheme = MEDIAPIPE468

    def __init__(self, model_path: Path | None = None, max_shift: float = 0.06,
                 max_resize: float = 0.08, max_turn_deg: float = 4.0, threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        self._interpreter = Interpreter(model_path=str(model_path or mesh_model_path()),
                                        num_threads=threads)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = {tuple(d["shape"]): d["index"]
                   for d in self._interpreter.get_output_details()}
        self._points_out = outputs[(1, 1, 1, 1404)]
        self._presence_out = outputs[(1, 1, 1, 1)]
        self._tolerance = (max_shift, max_resize, math.radians(max_turn_deg))
        self.region: Region | None = None
        """The region the last call read (held between calls)."""
        self._last: np.ndarray | None = None

    def locate(self, image: np.ndarray, box: np.ndarray) -> Landmarks | None:
        wanted = self._wanted_region(box)
        if self.region is None or not self.region.holds(wanted, *self._tolerance):
            self.region = wanted
        region = self.region
        patch = cv2.warpAffine(to_rgb(image), region.to_input, (INPUT, INPUT),
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        tensor = patch[None].astype(np.float32)
        tensor *= 1.0 / 255.0
        self._interpreter.set_tensor(self._input, tensor)
        self._interpreter.invoke()
        logit = float(self._interpreter.get_tensor(self._presence_out).reshape(()))
        if logit < math.log(MIN_PRESENCE / (1.0 - MIN_PRESENCE)):
            self.region = self._last = None
            return None
        xy = self._interpreter.get_tensor(self._points_out).reshape(468, 3)[:, :2]
        points = xy @ region.to_image[:, :2].T + region.to_image[:, 2]
        self._last = points
        return Landmarks(scheme=MEDIAPIPE468, points=points.astype(np.float32), score=math.nan)

    def _wanted_region(self, box: np.ndarray) -> Region:
        """From the last landmarks while ``box`` is still this face, else from ``box``."""
        if self._last is not None and self.region is not None:
            b = np.asarray(box, dtype=np.float64)
            centre = (b[:2] + b[2:]) / 2
            if float(np.abs(centre - self.region.centre).max()) < self.region.side / 2:
                return region_from_points(self._last)
        return region_from_box(box)

    def close(self) -> None:
        self._interpreter = None
