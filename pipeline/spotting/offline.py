"""Run a spotter over a whole video with the production face tracker and aligner, and
score it on synthetic footage.

This is the evaluation harness (and what the tests use); the streaming ``spot`` stage
does the same per frame. Example (needs MediaPipe and the bundled media)::

    from pipeline.synth.scene import SceneSpec
    score, run = spot_synthetic(SceneSpec(seed=100, seconds=20), OpticalFlowSpotter)
    score.f1, run.intervals[0]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from pipeline.spotting.evaluate import SpottingScore, evaluate_spotting, frame_span_ns
from pipeline.spotting.face_frame import FaceFrame
from pipeline.spotting.interval import MICRO, SpottedInterval
from pipeline.spotting.spotter import Spotter

SpotterFactory = Callable[[], Spotter]


@dataclass(slots=True)
class SpotRun:
    """What :func:`spot_video` found, per track id."""

    intervals: dict[int, list[SpottedInterval]] = field(default_factory=dict)
    scores: dict[int, list[tuple[int, float]]] = field(default_factory=dict)
    frames: int = 0
    """Frames read from the source."""


def aligned_face_frames(
    frames: Iterable[tuple[np.ndarray, int]], backend: str = "mediapipe", size: int = 128,
    stabilise: str = "one_euro",
) -> Iterator[tuple[int, FaceFrame | None]]:
    """(track id, FaceFrame) for every face in every frame, as the production pipeline
    aligns it (FaceTracker + FaceAligner; the harness's one_euro stabilisation at 128 px
    by default, the demo's is ``size=64, stabilise="hold"``); (track id, None) once when a
    track ends (and for every live track at the end of the frames)."""
    from pipeline.faces import FaceAligner, FaceTracker, open_backend

    tracker = FaceTracker(open_backend(backend))
    aligner = FaceAligner(size=size, stabilise=stabilise)
    live: set[int] = set()
    try:
        for image, pts_ns in frames:
            for track in tracker.update(image, pts_ns):
                face = aligner.align(track.id, image, track.landmarks, pts_ns, track.det_score)
                live.add(track.id)
                yield track.id, FaceFrame(pts_ns, face.gray, face.points)
            for track_id in tracker.pop_ended():
                aligner.forget(track_id)
                live.discard(track_id)
                yield track_id, None
    finally:
        tracker.close()
    for track_id in sorted(live):
        yield track_id, None


def run_spotters(
    faces: Iterable[tuple[int, FaceFrame | None]], spotter_factory: SpotterFactory
) -> SpotRun:
    """Feed each track's FaceFrames to its own spotter (made on the track's first frame)."""
    run = SpotRun()
    spotters: dict[int, Spotter] = {}
    for track_id, frame in faces:
        spotter = spotters.get(track_id)
        if frame is None:
            if spotter is not None:
                run.intervals.setdefault(track_id, []).extend(spotter.flush())
                run.scores[track_id] = spotter.score_history()
                del spotters[track_id]
            continue
        if spotter is None:
            spotter = spotters[track_id] = spotter_factory()
        run.intervals.setdefault(track_id, []).extend(spotter.push(frame))
    for track_id, spotter in spotters.items():
        run.intervals.setdefault(track_id, []).extend(spotter.flush())
        run.scores[track_id] = spotter.score_history()
    return run


def spot_video(
    frames: Iterable[tuple[np.ndarray, int]],
    spotter_factory: SpotterFactory,
    backend: str = "mediapipe",
) -> SpotRun:
    """Track, align and spot every face of a video given as (image, pts_ns) frames."""
    count = [0]

    def counted() -> Iterator[tuple[np.ndarray, int]]:
        for item in frames:
            count[0] += 1
            yield item

    run = run_spotters(aligned_face_frames(counted(), backend), spotter_factory)
    run.frames = count[0]
    return run


def micro_truth_ns(truth, face: int = 0) -> list[tuple[int, int]]:
    """The micro events of ``face`` in a synthetic GroundTruth as (onset_ns, offset_ns),
    frame-inclusive (:func:`~pipeline.spotting.evaluate.frame_span_ns`)."""
    return [
        frame_span_ns(e.onset, e.offset, e.fps)
        for e in truth.events
        if e.kind == MICRO and e.face == face
    ]


def score_track(truth, intervals: list[SpottedInterval], video_ms: float) -> SpottingScore:
    """Micro F1 of one face's intervals against the scene's micro events: only intervals
    labelled micro count as predictions, so a macro event or distractor reported as micro
    is a false alarm, and one reported as macro costs nothing."""
    micro = [iv for iv in intervals if iv.kind == MICRO]
    return evaluate_spotting(micro_truth_ns(truth), micro, video_ms)


def spot_synthetic(spec, spotter_factory: SpotterFactory, backend: str = "mediapipe"):
    """Render a one-face :class:`~pipeline.synth.scene.SceneSpec`, spot it, score it.

    Returns (SpottingScore, SpotRun, GroundTruth). The face is expected to be tracked as
    one track; the intervals of all tracks are pooled (a lost-and-found face gets a new id).
    """
    from pipeline.synth.scene import SyntheticScene

    scene = SyntheticScene(spec)
    run = spot_video(scene.frames(), spotter_factory, backend)
    intervals = [iv for ivs in run.intervals.values() for iv in ivs]
    video_ms = run.frames * 1000.0 / spec.fps
    return score_track(scene.truth, intervals, video_ms), run, scene.truth
