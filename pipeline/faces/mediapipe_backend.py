"""MediaPipe 0.10.21 legacy solutions: BlazeFace detection and the 478-point face mesh.

Both models ship inside the wheel (Apache-2.0), nothing is downloaded. Measured here (see
shared/docs/faces.md): detection 2.4 ms, refined mesh 3.5-6 ms per 640x480 frame on 2
cores; the fast mesh (:mod:`pipeline.faces.anchored_mesh`) about 2 ms.
"""

from __future__ import annotations

import math
import os

# MediaPipe's C++ side logs a line per graph to stderr ("Created TensorFlow Lite XNNPACK
# delegate", "Feedback manager requires ..."); errors still come through.
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import mediapipe as mp  # noqa: E402  (after the log settings it reads at import)
import numpy as np

from pipeline.faces.anchored_mesh import AnchoredMeshLandmarker
from pipeline.faces.canonical import MEDIAPIPE, MEDIAPIPE468
from pipeline.faces.crop_window import CropWindow
from pipeline.faces.images import to_rgb
from pipeline.faces.litert_mesh import LiteRTMeshLandmarker
from pipeline.faces.types import Detection, Landmarks

MESHES = ("fast", "refined", "plain")
"""The landmark models: fast = the plain mesh on LiteRT anchored to the refined mesh every
``refresh_every`` frames (:mod:`pipeline.faces.anchored_mesh`); refined = MediaPipe's
refined 478-point graph on every frame; plain = the 468-point mesh on LiteRT alone."""


class MediaPipeDetector:
    """BlazeFace on whole frames: a box and 6 keypoints (eyes, nose tip, mouth centre,
    ear tragions) per face."""

    def __init__(self, model_selection: int = 0, min_detection_confidence: float = 0.5):
        self._model = mp.solutions.face_detection.FaceDetection(
            model_selection=model_selection, min_detection_confidence=min_detection_confidence
        )

    def detect(self, image: np.ndarray) -> list[Detection]:
        h, w = image.shape[:2]
        result = self._model.process(to_rgb(image))
        found: list[Detection] = []
        for det in result.detections or []:
            rel = det.location_data.relative_bounding_box
            box = np.array(
                [
                    rel.xmin * w,
                    rel.ymin * h,
                    (rel.xmin + rel.width) * w,
                    (rel.ymin + rel.height) * h,
                ],
                dtype=np.float32,
            )
            keypoints = np.array(
                [[k.x * w, k.y * h] for k in det.location_data.relative_keypoints],
                dtype=np.float32,
            )
            found.append(Detection(box=box, score=float(det.score[0]), keypoints=keypoints))
        return found

    def close(self) -> None:
        self._model.close()


class MediaPipeLandmarker:
    """The face mesh (video mode, refined eyes and lips: 478 points) on a crop around the
    face.

    The crop is held still by a :class:`CropWindow` so MediaPipe's own frame-to-frame
    tracking sees a steady picture: on a still 640x480 face with sensor noise (sigma 3) video
    mode gave a landmark std of 0.128 px against 0.185 px for static mode. The mesh gives no
    confidence, so ``score`` is NaN (the tracker fills in the detection score).
    """

    scheme = MEDIAPIPE

    def __init__(self, crop_scale: float = 1.8):
        self._mesh = mp.solutions.face_mesh.FaceMesh(
            static_image_mode=False, max_num_faces=1, refine_landmarks=True
        )
        self._window = CropWindow(scale=crop_scale)

    def locate(self, image: np.ndarray, box: np.ndarray) -> Landmarks | None:
        x0, y0, x1, y1 = self._window.update(box, image.shape)
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
        crop = image[y0:y1, x0:x1]
        result = self._mesh.process(to_rgb(crop))
        if not result.multi_face_landmarks:
            return None
        marks = result.multi_face_landmarks[0].landmark
        points = np.array([[m.x, m.y] for m in marks], dtype=np.float64)
        points = points * (x1 - x0, y1 - y0) + (x0, y0)
        return Landmarks(scheme=MEDIAPIPE, points=points.astype(np.float32), score=math.nan)

    def close(self) -> None:
        self._mesh.close()


class MediaPipeBackend:
    """MediaPipe detection + mesh.

    ``model_selection``: 0 = short range (faces within about 2 m of the camera, the faster
    model), 1 = full range (up to about 5 m, about 6 ms). ``mesh`` (see :data:`MESHES`):
    "fast" (about 1.9 ms of CPU a face and frame here, 478 points in the refined mesh's
    places), "refined" (about 3.6 ms), "plain" (about 1.7 ms, 468 points in the plain
    model's own places: the bundled spotter, trained on refined crops, reads them worse).
    ``refresh_every``: frames between the fast mesh's refined calls. ``crop_scale``: the
    refined landmarker's crop side over the face box size.
    """

    name = "mediapipe"

    def __init__(
        self,
        model_selection: int = 0,
        min_detection_confidence: float = 0.5,
        crop_scale: float = 1.8,
        mesh: str = "refined",
        refresh_every: int = 30,
    ):
        if model_selection not in (0, 1):
            raise ValueError(
                f"model_selection must be 0 (short range) or 1 (full range), "
                f"got {model_selection!r}"
            )
        if mesh not in MESHES:
            raise ValueError(f"mesh must be one of {MESHES}, got {mesh!r}")
        self.mesh = mesh
        self.scheme = MEDIAPIPE468 if mesh == "plain" else MEDIAPIPE
        self.refresh_every = refresh_every
        self.model_selection = model_selection
        self.min_detection_confidence = min_detection_confidence
        self.crop_scale = crop_scale

    def detector(self) -> MediaPipeDetector:
        return MediaPipeDetector(self.model_selection, self.min_detection_confidence)

    def landmarker(self) -> MediaPipeLandmarker | LiteRTMeshLandmarker | AnchoredMeshLandmarker:
        if self.mesh == "plain":
            return LiteRTMeshLandmarker()
        if self.mesh == "fast":
            return AnchoredMeshLandmarker(MediaPipeLandmarker(self.crop_scale),
                                          self.refresh_every)
        return MediaPipeLandmarker(self.crop_scale)
