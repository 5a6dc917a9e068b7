"""Face tracks over one stream: detect now and then, follow landmarks in between.

The detector runs on the whole frame every ``detect_every`` frames (and on every frame while
no track is alive); in between each track's own landmarker finds the face again near where
its landmarks were (landmark tracking, as MediaPipe's face mesh pipeline does). A track's
box is the image box of the canonical face square (:func:`~pipeline.faces.canonical.face_box`),
so both backends give comparable boxes and detections match them by IoU.

>>> from pipeline.faces.backend import open_backend
>>> import numpy as np
>>> tracker = FaceTracker(open_backend("mediapipe"))
>>> tracker.update(np.zeros((240, 320, 3), np.uint8), pts_ns=0)
[]
>>> tracker.close()
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pipeline.faces.backend import FaceBackend, FaceLandmarker
from pipeline.faces.boxes import iou
from pipeline.faces.canonical import face_box
from pipeline.faces.tiled_detection import TiledDetector, TileSetting
from pipeline.faces.types import Detection, Landmarks


@dataclass(slots=True)
class Track:
    """One face followed over time."""

    id: int
    """Stable per stream, from 0, never reused."""
    box: np.ndarray
    """float32 (4,) current box (from the landmarks), image pixels."""
    landmarks: Landmarks
    det_score: float
    """Score of the last detection matched to this track."""
    last_seen_ns: int
    """pts of the last frame the face was found in."""


@dataclass(slots=True)
class _Live:
    track: Track
    landmarker: FaceLandmarker
    seen_last_frame: bool


def _centre_distance_in_sizes(det: np.ndarray, box: np.ndarray) -> float:
    """Distance between box centres over the track box size."""
    d = (det[:2] + det[2:]) / 2 - (box[:2] + box[2:]) / 2
    size = max(float(box[2] - box[0]), float(box[3] - box[1]), 1.0)
    return float(np.hypot(*d)) / size


SETTLE_PASSES = 4
"""At most this many landmarker calls on the frame where a face is (re)acquired."""


def _settled_locate(
    landmarker: FaceLandmarker, image: np.ndarray, box: np.ndarray, from_detection: bool
) -> Landmarks | None:
    """Locate a face; when ``box`` is a detector's box, repeat on the same frame from the
    landmarks' own box until the landmarks stop moving (at most ``SETTLE_PASSES`` calls).

    A detector's box differs from the landmark box used on later frames, so the landmarker's
    crop window would move on the next frame, and MediaPipe's mesh refines its own region
    of interest over a few calls: on the astronaut the first 3 frames of a new track moved
    by about 1-3 px before settling. Settling at once (about 5 ms per extra call, once per
    track) keeps that jump out of the aligned faces.
    """
    landmarks = landmarker.locate(image, box)
    if landmarks is None or not from_detection:
        return landmarks
    for _ in range(SETTLE_PASSES - 1):
        again = landmarker.locate(image, face_box(landmarks.scheme, landmarks.points))
        if again is None:
            break
        moved = float(np.abs(again.points - landmarks.points).mean())
        landmarks = again
        if moved < 0.25:
            break
    return landmarks


def _area(box: np.ndarray) -> float:
    return float((box[2] - box[0]) * (box[3] - box[1]))


class FaceTracker:
    """Tracks up to ``max_faces`` faces in one stream.

    - Detections below ``min_score`` are ignored; those smaller than ``min_face_px`` (box
      side) are counted in :attr:`too_small` and not tracked (too small for
      micro-expression analysis: the align stage reports them).
    - The detector runs on the whole frame and, per ``tiles``, on its tiles
      (:mod:`pipeline.faces.tiled_detection`); not at all while ``max_faces`` tracks are
      alive and found (landmarks follow them; it runs again as soon as one is lost).
    - Detections match tracks greedily by IoU (highest first, at least ``min_iou``); a
      detection left over that lies near a track's last box (centre distance under half the
      box size) re-identifies it, so a face that comes back within ``max_absence_ms`` keeps
      its id. Other detections start tracks, largest first, while fewer than ``max_faces``
      tracks are alive.
    - A track whose face is not found in a frame is absent (not returned); it ends, and its
      id is reported by :meth:`pop_ended`, once absent longer than ``max_absence_ms`` of pts.
    """

    def __init__(
        self,
        backend: FaceBackend,
        detect_every: int = 5,
        max_faces: int = 1,
        max_absence_ms: float = 1000.0,
        min_score: float = 0.5,
        min_face_px: int = 32,
        min_iou: float = 0.3,
        tiles: TileSetting = "off",
    ):
        if detect_every < 1 or max_faces < 1:
            raise ValueError("detect_every and max_faces must be >= 1")
        self.backend = backend
        self.detect_every = detect_every
        self.max_faces = max_faces
        self.max_absence_ms = max_absence_ms
        self.min_score = min_score
        self.min_face_px = min_face_px
        self.min_iou = min_iou
        self._detector = TiledDetector(backend.detector(), tiles)
        self.too_small = 0  # detections under min_face_px so far
        self.smallest_seen: float | None = None  # box side of the last one
        self._live: dict[int, _Live] = {}
        self._ended: list[int] = []
        self._next_id = 0
        self._frame_index = 0

    def update(self, image: np.ndarray, pts_ns: int) -> list[Track]:
        """Process one frame; the tracks whose face was found in it, sorted by id."""
        full = len(self._live) >= self.max_faces and all(
            live.seen_last_frame for live in self._live.values())
        run_detector = not self._live or (self._frame_index % self.detect_every == 0
                                          and not full)
        self._frame_index += 1
        matched: dict[int, Detection] = {}
        new: list[Detection] = []
        if run_detector:
            matched, new = self._match(self._detections(image))
        for track_id, live in list(self._live.items()):
            det = matched.get(track_id)
            if det is not None:
                live.track.det_score = det.score
            # A face found in the previous frame is looked for around its landmark box (the
            # landmarker's crop then stays put); one lost or just re-found starts from the
            # detection.
            box = live.track.box if live.seen_last_frame or det is None else det.box
            self._locate(live, image, box, pts_ns)
        for det in sorted(new, key=lambda d: _area(d.box), reverse=True):
            if len(self._live) >= self.max_faces:
                break
            self._start(image, det, pts_ns)
        self._drop_duplicates()
        self._end_absent(pts_ns)
        return [self._live[i].track for i in sorted(self._live) if self._live[i].seen_last_frame]

    def pop_ended(self) -> list[int]:
        """Ids of the tracks that ended since the last call."""
        ended, self._ended = self._ended, []
        return ended

    def close(self) -> None:
        """Free the detector and every track's landmarker."""
        for live in self._live.values():
            live.landmarker.close()
        self._live.clear()
        self._detector.close()

    @property
    def detector_calls(self) -> int:
        return self._detector.calls

    def _detections(self, image: np.ndarray) -> list[Detection]:
        found = []
        for d in self._detector.detect(image):
            if d.score < self.min_score:
                continue
            side = float(min(d.box[2] - d.box[0], d.box[3] - d.box[1]))
            if side < self.min_face_px:
                self.too_small += 1
                self.smallest_seen = side
                continue
            found.append(d)
        return found

    def _match(self, detections: list[Detection]) -> tuple[dict[int, Detection], list[Detection]]:
        pairs = [
            (iou(d.box, live.track.box), i, tid)
            for i, d in enumerate(detections)
            for tid, live in self._live.items()
        ]
        matched: dict[int, Detection] = {}
        used: set[int] = set()
        for overlap, i, tid in sorted(pairs, key=lambda p: p[0], reverse=True):
            if overlap < self.min_iou:
                break
            if i not in used and tid not in matched:
                matched[tid] = detections[i]
                used.add(i)
        # Re-identification by position: a leftover detection near a track's last box.
        near = [
            (_centre_distance_in_sizes(d.box, live.track.box), i, tid)
            for i, d in enumerate(detections)
            for tid, live in self._live.items()
            if i not in used and tid not in matched
        ]
        for distance, i, tid in sorted(near, key=lambda p: p[0]):
            if distance < 0.5 and i not in used and tid not in matched:
                matched[tid] = detections[i]
                used.add(i)
        return matched, [d for i, d in enumerate(detections) if i not in used]

    def _locate(self, live: _Live, image: np.ndarray, box: np.ndarray, pts_ns: int) -> None:
        landmarks = _settled_locate(live.landmarker, image, box, live.track.box is not box)
        if landmarks is None:
            live.seen_last_frame = False
            return
        if math.isnan(landmarks.score):
            landmarks.score = live.track.det_score
        live.track.landmarks = landmarks
        live.track.box = face_box(landmarks.scheme, landmarks.points)
        live.track.last_seen_ns = pts_ns
        live.seen_last_frame = True

    def _start(self, image: np.ndarray, det: Detection, pts_ns: int) -> None:
        landmarker = self.backend.landmarker()
        landmarks = _settled_locate(landmarker, image, det.box, True)
        if landmarks is None:
            landmarker.close()
            return
        if math.isnan(landmarks.score):
            landmarks.score = det.score
        track = Track(
            id=self._next_id,
            box=face_box(landmarks.scheme, landmarks.points),
            landmarks=landmarks,
            det_score=det.score,
            last_seen_ns=pts_ns,
        )
        self._next_id += 1
        self._live[track.id] = _Live(track=track, landmarker=landmarker, seen_last_frame=True)

    def _drop_duplicates(self) -> None:
        """Two landmarkers that converged on one face: the younger track loses this frame."""
        seen = [live for _, live in sorted(self._live.items()) if live.seen_last_frame]
        for i, older in enumerate(seen):
            for younger in seen[i + 1 :]:
                if younger.seen_last_frame and iou(older.track.box, younger.track.box) > 0.5:
                    younger.seen_last_frame = False

    def _end_absent(self, pts_ns: int) -> None:
        for track_id, live in list(self._live.items()):
            if (pts_ns - live.track.last_seen_ns) / 1e6 > self.max_absence_ms:
                live.landmarker.close()
                del self._live[track_id]
                self._ended.append(track_id)
