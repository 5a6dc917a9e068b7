"""Where one frame's time goes, part by part, in one process: the split the per-process
CPU of a load run cannot give (inside capture: generating; inside align: detecting,
landmarks, warping; the spotter; (de)serialising the messages between stages).

The same code the stages run is timed on the same synthetic 640x480 frames, one thread,
no sockets. Each part is timed in process CPU time (all threads: MediaPipe infers on
threads of its own graph), so other jobs on a shared machine barely change the figures.

Example (a few seconds)::

    from bench.stage_profile import profile_parts
    parts = profile_parts(frames=60)
    print({k: round(v, 2) for k, v in parts.items()})   # ms per frame
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from typing import Any

import cv2
import numpy as np

from pipeline.faces.alignment import FaceAligner
from pipeline.faces.backend import FaceBackend, open_backend
from pipeline.faces.tracker import FaceTracker
from pipeline.runtime import wire
from pipeline.runtime.wire import Message


class PartTimer:
    """CPU seconds (the whole process's) spent per named part."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def timed(self, part: str, fn: Any, *args: Any) -> Any:
        t = time.process_time()
        try:
            return fn(*args)
        finally:
            self.seconds[part] += time.process_time() - t


class _TimedModel:
    """A detector or landmarker whose calls are timed under one part name."""

    def __init__(self, inner: Any, part: str, method: str, timer: PartTimer):
        self.inner, self.part, self.method, self.timer = inner, part, method, timer
        self.scheme = getattr(inner, "scheme", None)

    def detect(self, image: np.ndarray) -> Any:
        return self.timer.timed(self.part, self.inner.detect, image)

    def locate(self, image: np.ndarray, box: np.ndarray) -> Any:
        return self.timer.timed(self.part, self.inner.locate, image, box)

    def close(self) -> None:
        self.inner.close()


class TimedBackend:
    """A face backend whose detectors and landmarkers time themselves."""

    def __init__(self, inner: FaceBackend, timer: PartTimer):
        self.inner, self.timer = inner, timer
        self.name, self.scheme = inner.name, inner.scheme

    def detector(self) -> Any:
        return _TimedModel(self.inner.detector(), "detect", "detect", self.timer)

    def landmarker(self) -> Any:
        return _TimedModel(self.inner.landmarker(), "landmarks", "locate", self.timer)


def profile_parts(frames: int = 150, detect_every: int = 5, size: int = 64,
                  loop_frames: int | None = None) -> dict[str, float]:
    """CPU milliseconds per frame of each part, over ``frames`` frames of one synthetic
    640x480 30 fps stream (seed 100, as the load runs' first stream)."""
    from pipeline.spotting.face_frame import FaceFrame
    from pipeline.stages.spot.stage import canonical_points, make_spotter
    from pipeline.synth.source import synthetic_source

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # as in a stage process under load: one core's worth
    timer = PartTimer()
    try:
        src = synthetic_source("cam-00", seed=100, fps=30.0, seconds=frames / 30.0 + 1,
                               label_set="casme2", event_rate=30.0, loop_frames=loop_frames)
        src.open()
        tracker = FaceTracker(TimedBackend(open_backend("mediapipe"), timer),
                              detect_every=detect_every)
        aligner = FaceAligner(size=size, stabilise="hold")
        spotter = make_spotter("flow", 300.0, {})
        for _ in range(frames):
            got = timer.timed("generate", src.read)
            if got is None:
                break
            image, pts = got
            frame_msg = Message(wire.FRAME, "cam-00", 0, pts, {"image": image})
            timer.timed("transport (frame encode+decode)", _roundtrip, frame_msg)
            tracks = tracker.update(image, pts)
            for track in tracks:
                face = timer.timed("align (warp, crops)", aligner.align, track.id, image,
                                   track.landmarks, pts, track.det_score)
                face_msg = Message(wire.FACE, "cam-00", 0, pts, {
                    "face": face.face, "gray": face.gray, "eyes": face.eyes,
                    "mouth": face.mouth,
                    "landmarks": track.landmarks.points.astype(np.float32),
                    "transform": face.transform.astype(np.float32)}, track=track.id)
                timer.timed("transport (face encode+decode)", _roundtrip, face_msg)
                points = canonical_points(face_msg.buffers["landmarks"],
                                          face_msg.buffers["transform"])
                timer.timed("spot (flow spotter)", spotter.push,
                            FaceFrame(pts, face.gray, points))
                timer.timed("track record JSON (what the bench subscribes to: no "
                            "landmarks)", _track_record_roundtrip, pts)
        tracker.close()
        src.close()
    finally:
        cv2.setNumThreads(threads)
    parts = {"generate": 0.0, "detect": 0.0, "landmarks": 0.0}
    parts.update(timer.seconds)
    return {k: v * 1000.0 / frames for k, v in parts.items()}


def _track_record_roundtrip(pts: int) -> dict[str, Any]:
    """A per-frame track record as spot builds it, publish serialises it and a subscriber
    parses it (the streams benchmark counts frames by these records; it turns
    ``track_landmarks`` off: 478 points were 2 ms a frame of JSON)."""
    record = {"type": "track", "stream": "cam-00", "seq": 0, "pts_ns": pts, "track": 0,
              "box": [0.0, 0.0, 1.0, 1.0], "score": 1.0, "score_pts_ns": pts}
    return json.loads(json.dumps(record).encode())


def _roundtrip(msg: Message) -> Message:
    return wire.decode([bytes(p) if not isinstance(p, bytes) else p
                        for p in wire.encode(msg)])
