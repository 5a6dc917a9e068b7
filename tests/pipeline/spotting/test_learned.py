"""The learned spotter (bundled SYNTHETIC-trained model, run through engines/ONNX Runtime):
it finds a planted micro-expression on a real face, also one in a stream's last 400 ms
and one of 480 ms (a micro, not a macro), stays quiet on a plain GRID clip,
batching tracks gives the scores of one track at a time, and bad options or a missing model
are clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.config import ConfigError, parse_config
from pipeline.spotting.face_frame import FaceFrame
from pipeline.spotting.interval import MICRO, interval_iou
from pipeline.spotting.learned import BUNDLED_MODEL, LearnedSpotter, StepRunner, shared_runner
from pipeline.spotting.offline import aligned_face_frames
from pipeline.synth.scene import SceneSpec, SyntheticScene
from tests.conftest import REPO, SHARED
from tests.pipeline.spotting.conftest import (
    ASTRONAUT,
    QUIET,
    need_media,
    scene_faces,
    scripted_micro,
)

GRID = SHARED / "grid"

pytestmark = pytest.mark.skipif(not BUNDLED_MODEL.exists(),
                                reason=f"bundled model missing: {BUNDLED_MODEL}")


def spot(frames, **options) -> tuple[list, LearnedSpotter]:
    spotter = LearnedSpotter(**options)
    out = []
    for f in frames:
        out += spotter.push(f)
    return out + spotter.flush(), spotter


def test_bundled_model_finds_a_planted_micro_expression() -> None:
    frames, events = scene_faces(30.0, 4.0, True, QUIET)
    (event,) = events
    gt0, gt1 = round(event.onset * 1e9 / 30), round((event.offset + 1) * 1e9 / 30)
    found, spotter = spot(frames)
    micro = [iv for iv in found if iv.kind == MICRO]
    assert len(micro) == 1, found
    assert interval_iou(gt0, gt1, micro[0].onset_ns, micro[0].offset_ns) >= 0.5, (micro, gt0, gt1)
    # Its scores describe every tick of the clip, the last ones too (played back in
    # reverse at the end), and peak inside the event.
    scores = spotter.score_history()
    assert abs(scores[-1][0] - frames[-1].pts_ns) <= spotter.tick_ns
    apex = max(scores, key=lambda s: s[1])[0]
    assert gt0 <= apex <= gt1


@pytest.mark.parametrize(("onset_ms", "ms"), [(3700.0, 300.0), (3500.0, 480.0)],
                         ids=["in-the-last-400-ms", "480-ms"])
def test_a_micro_expression_at_the_very_end_or_of_480_ms_is_reported_micro(onset_ms,
                                                                           ms) -> None:
    """Before: the last `delay` ticks (400 ms) of a track were never scored, so an
    expression ending with the stream was lost; and a 480 ms one, spotted as 13 ticks
    (520 ms), was reported macro."""
    need_media()
    spec = SceneSpec(seed=3, fps=30.0, width=320, height=240, seconds=4.0,
                     faces=[ASTRONAUT], events_per_minute=0, distractors=QUIET,
                     script=[scripted_micro(30.0, onset_ms=onset_ms, ms=ms)])
    scene = SyntheticScene(spec)
    frames = [f for tid, f in aligned_face_frames(scene.frames()) if f is not None
              and tid == 0]
    (event,) = scene.truth.events
    gt0, gt1 = round(event.onset * 1e9 / 30), round((event.offset + 1) * 1e9 / 30)
    found, _ = spot(frames)
    micro = [iv for iv in found if iv.kind == MICRO]
    assert len(micro) == 1, found
    assert interval_iou(gt0, gt1, micro[0].onset_ns, micro[0].offset_ns) >= 0.5, (micro, gt0,
                                                                                 gt1)


def test_no_false_alarm_at_the_end_of_a_quiet_track() -> None:
    """The reversed playback at the end is no expression: a still face with sensor noise
    gives none, whatever its last frames."""
    frames, _ = scene_faces(30.0, 4.0, False, QUIET)
    found, _ = spot(frames)
    assert found == []


def test_no_micro_false_alarm_on_a_plain_grid_clip() -> None:
    clip = GRID / "bbaf2n.mpg"
    if not clip.exists():  # the same file, bundled byte for byte
        clip = REPO / "configs/examples/media/grid_bbaf2n.mpg"
    import cv2

    cap = cv2.VideoCapture(str(clip))
    frames = []
    while (ok_img := cap.read())[0]:
        frames.append((ok_img[1], round(len(frames) * 1e9 / 25)))
    cap.release()
    faces = [f for tid, f in aligned_face_frames(iter(frames)) if f is not None and tid == 0]
    assert len(faces) > 60
    found, _ = spot(faces)
    assert [iv for iv in found if iv.kind == MICRO] == []


def _noisy_track(seed: int, n: int = 60) -> list[FaceFrame]:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (128, 128)).astype(np.float32)
    return [FaceFrame(round(i * 1e9 / 30) + seed * 7_000_000,
                      np.clip(base + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8))
            for i in range(n)]


def test_batching_tracks_gives_the_scores_of_one_track_at_a_time() -> None:
    tracks = [_noisy_track(s) for s in range(3)]
    alone = [spot(t)[1].score_history() for t in tracks]
    runner = StepRunner()
    spotters = [LearnedSpotter(runner=runner, autorun=False) for _ in tracks]
    for i in range(len(tracks[0])):
        for spotter, track in zip(spotters, tracks, strict=True):
            spotter.push(track[i])
        runner.run()
    for spotter in spotters:
        spotter.flush()
    assert runner.calls < runner.ticks          # several tracks per engine call
    for spotter, ref in zip(spotters, alone, strict=True):
        got = spotter.score_history()
        assert [t for t, _ in got] == [t for t, _ in ref]
        np.testing.assert_allclose([p for _, p in got], [p for _, p in ref], atol=1e-5)


def test_bad_options_and_a_missing_model_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.onnx"):
        StepRunner(tmp_path / "nope.onnx")
    with pytest.raises(ValueError, match="threshold"):
        LearnedSpotter(threshold=1.5)
    with pytest.raises(ValueError, match="bogus"):
        shared_runner({"bogus": 1})
    not_a_spotter = tmp_path / "x.onnx"
    not_a_spotter.write_bytes(BUNDLED_MODEL.read_bytes())
    stage = {"type": "spot", "spotter": "learned", "options": {"treshold": 0.5}}
    body = {"version": 1, "name": "t", "sources": {"cam": {"type": "testpattern", "frames": 2}},
            "stages": {"capture": {"type": "capture"}, "spot": stage,
                       "publish": {"type": "publish", "bind": "tcp://127.0.0.1:5999"}}}
    with pytest.raises(ConfigError, match=r"stages\.spot.*treshold"):
        parse_config(body, source="p.yaml")
    body["stages"]["spot"] = {"type": "spot", "spotter": "flow", "model": "m.onnx"}
    with pytest.raises(ConfigError, match=r"stages\.spot.*only the learned spotter"):
        parse_config(body, source="p.yaml")
