"""Track ids: several faces, no face, a face that leaves and comes back."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.faces.backend import FaceBackend
from pipeline.faces.tracker import FaceTracker, iou

from .conftest import FRAME_NS, grid_frames


def _two_faces(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """A 720x288 frame: ``left`` as is, ``right`` shrunk to 80 % (a smaller face)."""
    h, w = right.shape[:2]
    small = cv2.resize(right, (w * 4 // 5, h * 4 // 5), interpolation=cv2.INTER_AREA)
    pad = np.empty_like(right)
    pad[:] = right[0, 0]  # GRID's plain blue background
    y, x = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    pad[y : y + small.shape[0], x : x + small.shape[1]] = small
    return np.hstack([left, pad])


@pytest.mark.parametrize("backend_name", ["mediapipe", "retinaface"])
def test_two_faces_two_tracks(backend_name: str, request: pytest.FixtureRequest) -> None:
    backend: FaceBackend = request.getfixturevalue(backend_name)
    frames = [
        _two_faces(a, b)
        for a, b in zip(grid_frames("bbaf2n.mpg")[:20], grid_frames("lwbsza.mpg")[:20], strict=True)
    ]
    tracker = FaceTracker(backend, max_faces=2)
    try:
        for i, frame in enumerate(frames):
            tracks = tracker.update(frame, i * FRAME_NS)
            assert [t.id for t in tracks] == [0, 1], f"frame {i}"
            # The larger (left) face was started first; each id stays on its own side.
            assert tracks[0].box[2] < 400 and tracks[1].box[0] > 320, f"frame {i}"
    finally:
        tracker.close()

    tracker = FaceTracker(backend, max_faces=1)
    try:
        for i, frame in enumerate(frames):
            tracks = tracker.update(frame, i * FRAME_NS)
            assert [t.id for t in tracks] == [0] and tracks[0].box[2] < 400, f"frame {i}"
    finally:
        tracker.close()


@pytest.mark.parametrize("backend_name", ["mediapipe", "retinaface"])
def test_no_face_no_track(backend_name: str, request: pytest.FixtureRequest) -> None:
    backend: FaceBackend = request.getfixturevalue(backend_name)
    rng = np.random.default_rng(0)
    blank = np.full((288, 360, 3), 128, np.uint8)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (288, 360, 3), dtype=np.uint8), (5, 5), 0)
    tracker = FaceTracker(backend)
    try:
        for i in range(10):
            assert tracker.update(blank if i % 2 else texture, i * FRAME_NS) == []
        assert tracker.pop_ended() == []
    finally:
        tracker.close()


def test_a_face_keeps_its_id_across_a_short_absence(mediapipe: FaceBackend) -> None:
    faces = grid_frames("swiz3n.mpg")
    blank = np.full_like(faces[0], 128)
    # 20 face frames, 5 blank (200 ms), 20 face frames, 35 blank (1.4 s), 20 face frames.
    frames = faces[:20] + [blank] * 5 + faces[20:40] + [blank] * 35 + faces[40:60]
    has_face = [f is not blank for f in frames]
    tracker = FaceTracker(mediapipe, max_absence_ms=1000.0)
    ids: list[list[int]] = []
    ended_at: dict[int, int] = {}
    try:
        for i, frame in enumerate(frames):
            ids.append([t.id for t in tracker.update(frame, i * FRAME_NS)])
            for track_id in tracker.pop_ended():
                ended_at[track_id] = i
    finally:
        tracker.close()
    for i, (seen, face) in enumerate(zip(ids, has_face, strict=True)):
        if not face:
            assert seen == [], f"frame {i}"
    assert all(seen == [0] for seen in ids[:20])
    assert all(seen == [0] for seen in ids[25:45])  # back within 200 ms: same id
    # Last seen at frame 44 (1.76 s); ended once absent > 1 s, i.e. at frame 70.
    assert ended_at == {0: 70}
    assert all(seen == [1] for seen in ids[80:])  # a new id, never reusing 0


def test_iou() -> None:
    a = np.array([0, 0, 10, 10], np.float32)
    assert iou(a, a) == pytest.approx(1.0)
    assert iou(a, np.array([5, 0, 15, 10], np.float32)) == pytest.approx(1 / 3)
    assert iou(a, np.array([20, 20, 30, 30], np.float32)) == 0.0
