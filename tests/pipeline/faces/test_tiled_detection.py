"""Faces in ordinary camera frames, with the default tracking settings: two portraits
side by side, a portrait in a wide frame, three speakers in one shot, and a small face
in a 1080p frame (found with ``detect_tiles`` in pixels). A face under ``min_face_px``
is counted, not tracked. All faces are real (the astronaut, GRID speakers)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.config.schema import Tracking
from pipeline.faces.tiled_detection import merge, tile_origins, tile_side
from pipeline.faces.tracker import FaceTracker
from pipeline.faces.types import Detection
from tests.pipeline.faces.conftest import ASTRONAUT, CLIPS, FRAME_NS, grid_frames, need

DEFAULTS = Tracking()


def tracker(backend, **changes) -> FaceTracker:
    t = DEFAULTS.model_copy(update=changes)
    return FaceTracker(backend, detect_every=t.detect_every, max_faces=t.max_faces,
                       max_absence_ms=t.max_absence_ms, min_score=t.min_score,
                       min_face_px=t.min_face_px, tiles=t.detect_tiles)


def faces_in(backend, frame: np.ndarray, frames: int = 3, **changes) -> tuple[list, FaceTracker]:
    """The tracks found on the last of ``frames`` repeats of ``frame``."""
    t = tracker(backend, **changes)
    tracks = []
    for i in range(frames):
        tracks = t.update(frame, i * FRAME_NS)
    return tracks, t


def astronaut(side: int) -> np.ndarray:
    image = cv2.imread(str(need(ASTRONAUT)))
    return cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)


def grid(name: str, size: tuple[int, int]) -> np.ndarray:
    return cv2.resize(grid_frames(name)[10], size, interpolation=cv2.INTER_AREA)


def canvas(width: int, height: int) -> np.ndarray:
    return np.full((height, width, 3), 90, np.uint8)


def centre_x(track) -> float:
    return float(track.box[0] + track.box[2]) / 2


@pytest.fixture(scope="module")
def backend(mediapipe):
    return mediapipe


def test_two_portraits_side_by_side_are_two_tracks(backend) -> None:
    frame = np.hstack([astronaut(512), grid(CLIPS[1], (512, 512))])
    tracks, _ = faces_in(backend, frame)
    assert len(tracks) == 2
    assert sorted(centre_x(t) < 512 for t in tracks) == [False, True]  # one in each


def test_a_portrait_in_a_wide_frame_is_found(backend) -> None:
    frame = canvas(1024, 512)
    frame[:, :512] = astronaut(512)
    tracks, _ = faces_in(backend, frame)
    assert len(tracks) == 1 and centre_x(tracks[0]) < 512


def test_three_speakers_in_one_shot_are_three_tracks(backend) -> None:
    frame = np.hstack([grid(name, (427, 480)) for name in CLIPS])
    tracks, _ = faces_in(backend, frame)
    assert len(tracks) == 3
    assert [round(centre_x(t) // 427) for t in sorted(tracks, key=centre_x)] == [0, 1, 2]


def test_a_small_face_in_1080p_is_found_with_tiles_in_pixels(backend) -> None:
    frame = canvas(1920, 1080)
    frame[520:920, 1300:1700] = astronaut(400)  # its detected box: about 80 px
    tracks, t = faces_in(backend, frame, detect_tiles=384)
    assert len(tracks) == 1 and 1300 < centre_x(tracks[0]) < 1700
    assert t.detector_calls > 3  # the tiles were run


def test_a_face_under_min_face_px_is_counted_and_not_tracked(backend) -> None:
    frame = canvas(1024, 512)
    frame[:, :512] = astronaut(512)
    tracks, t = faces_in(backend, frame, min_face_px=400)
    assert tracks == [] and t.too_small >= 1
    assert t.smallest_seen is not None and t.smallest_seen < 400


def test_detection_stops_while_every_face_wanted_is_tracked(backend) -> None:
    frames = grid_frames(CLIPS[0])[:20]
    t = tracker(backend, max_faces=1, detect_every=5)
    for i, f in enumerate(frames):
        assert len(t.update(f, i * FRAME_NS)) == 1
    assert t.detector_calls == 1  # the first frame; landmarks followed the face after


def test_tiles_cover_the_frame_with_overlap() -> None:
    for h, w, side in ((1080, 1920, 1080), (512, 1024, 512), (1080, 1920, 384)):
        origins = tile_origins(h, w, side)
        covered = np.zeros((h, w), bool)
        for x, y in origins:
            covered[y:y + side, x:x + side] = True
        assert covered.all()
        xs = sorted({x for x, _ in origins})
        assert all(b - a <= 0.75 * side + 1 for a, b in zip(xs, xs[1:], strict=False))
    assert tile_side(480, 640, "auto") is None  # 4:3: the whole frame is enough
    assert tile_side(1080, 1920, "auto") == 1080
    assert tile_side(1080, 1920, "off") is None and tile_side(1080, 1920, 384) == 384


def test_overlapping_detections_merge_to_the_most_confident() -> None:
    def det(x0: float, score: float) -> Detection:
        return Detection(np.array([x0, 0, x0 + 100, 100], np.float32), score,
                         np.zeros((6, 2), np.float32))

    kept = merge([det(0, 0.6), det(10, 0.9), det(300, 0.7)])
    assert [(float(d.box[0]), d.score) for d in kept] == [(10.0, 0.9), (300.0, 0.7)]
