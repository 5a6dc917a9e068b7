"""Face detection, landmark tracking and jitter-free alignment for micro-expressions.

A pure library (no sockets, no stage code). Typical use, per stream::

    backend = open_backend("mediapipe")          # or "retinaface"
    tracker = FaceTracker(backend)
    aligner = FaceAligner(size=128)
    for image, pts_ns in frames:
        for track in tracker.update(image, pts_ns):
            face = aligner.align(track.id, image, track.landmarks, pts_ns, track.det_score)
        for track_id in tracker.pop_ended():
            aligner.forget(track_id)

MediaPipe and RetinaFace are imported only by :func:`open_backend`.
"""

from pipeline.faces.alignment import FaceAligner
from pipeline.faces.backend import FaceBackend, FaceDetector, FaceLandmarker, open_backend
from pipeline.faces.tracker import FaceTracker, Track
from pipeline.faces.types import AlignedFace, Detection, FaceQuality, Landmarks

__all__ = [
    "AlignedFace",
    "Detection",
    "FaceAligner",
    "FaceBackend",
    "FaceDetector",
    "FaceLandmarker",
    "FaceQuality",
    "FaceTracker",
    "Landmarks",
    "Track",
    "open_backend",
]
