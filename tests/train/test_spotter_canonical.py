"""The canonical-space training scenes of the learned spotter (train/spotter/canonical.py):
labelled 64 px sequences in the cache format, a planted micro-expression is in the labels
AND in the pixels (where its action units are), and only the frames the tick sampler uses
are stored, so the training ticks are the ones a full-rate cache would give."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest

from pipeline.spotting.learned_ticks import TickSampler
from pipeline.synth.base_faces import BaseFace
from tests.spotting.conftest import ASTRONAUT, need_media, scripted_micro
from train.spotter.canonical import (
    CanonicalJob,
    cache_canonical,
    gray_base,
    make_scene,
    tick_frames,
)
from train.spotter.recall import PlannedMicro, planned_micro, recall_table
from train.spotter.ticks import tick_tracks


@cache
def astronaut() -> BaseFace:
    return gray_base(BaseFace.from_image(ASTRONAUT))


def test_tick_frames_are_the_frames_the_sampler_picks() -> None:
    for fps, total in ((30.0, 95), (200.0, 433), (25.0, 60)):
        picked = tick_frames(total, fps)
        full, sub = TickSampler(40.0), TickSampler(40.0)
        a = [t for i in range(total) for t in full.push(round(i * 1e9 / fps), i)]
        b = [t for i in picked for t in sub.push(round(i * 1e9 / fps), i)]
        assert a + full.flush() == b + sub.flush()
    assert len(tick_frames(2000, 200.0)) <= 252      # 10 s at 200 fps: ~250 renders, not 2000


@pytest.mark.parametrize("fps", [30.0, 200.0])
def test_a_planted_micro_expression_is_labelled_and_visible(tmp_path: Path, fps: float) -> None:
    need_media()
    event = scripted_micro(fps, onset_ms=1500.0, ms=300.0, aus=("AU12",), px=3.0)
    job = CanonicalJob(f"t{fps:.0f}", seed=5, fps=fps, seconds=3.0, distractors=False,
                       script=(event,))
    path = cache_canonical(job, tmp_path, [astronaut()])
    d = np.load(path)
    assert d["faces"].shape == (len(tick_frames(round(3.0 * fps), fps)), 64, 64)
    assert d["faces"].dtype == np.uint8 and float(d["video_ms"]) == 3000.0
    assert d["micro"].tolist() == [[round(event.onset * 1e9 / fps),
                                    round((event.offset + 1) * 1e9 / fps)]]
    (track,) = tick_tracks(path, 40.0)
    on = track.labels > 0
    t_ms = track.ticks_ns / 1e6
    assert on.any() and (t_ms[on] >= 1480).all() and (t_ms[on] <= 1820).all()
    # AU12 pulls the mouth corners: the lower face changes at the apex, the brows do not.
    faces = track.faces.astype(np.float64)
    apex = int(np.argmin(np.abs(track.ticks_ns - event.apex * 1e9 / fps)))
    before = int(np.argmin(np.abs(t_ms - 1000.0)))
    neutral = int(np.argmin(np.abs(t_ms - 500.0)))
    mouth = (slice(40, 56), slice(16, 48))
    brows = (slice(10, 24), slice(8, 56))
    change = np.abs(faces[apex] - faces[before])
    noise = np.abs(faces[neutral] - faces[before])
    assert change[mouth].mean() > 2 * noise[mouth].mean() + 0.5
    assert change[brows].mean() < noise[brows].mean() + 0.5


def _two_event_scene(tmp_path: Path):
    """A cached 3 s astronaut scene with a lone AU12 (0.5 s) and an AU1+2 (2 s), and its
    plan: (events, path, scene)."""
    need_media()
    events = (scripted_micro(30.0, onset_ms=500.0, aus=("AU12",), px=1.2),
              scripted_micro(30.0, onset_ms=2000.0, aus=("AU1", "AU2"), px=2.7))
    job = CanonicalJob("r30", seed=6, fps=30.0, seconds=3.0, distractors=False, script=events)
    return events, cache_canonical(job, tmp_path, [astronaut()]), make_scene(job, [astronaut()])


def test_recall_tables_label_each_cached_event_with_its_action_units(tmp_path: Path) -> None:
    """train.spotter.recall replans a cached scene to learn what each GT event was; a
    cache whose GT no longer matches the plan is refused, not mislabelled."""
    events, path, scene = _two_event_scene(tmp_path)
    planned, talking = planned_micro(scene, path)
    assert [e.aus for e in planned] == [("AU12",), ("AU1", "AU2")] and not talking
    other = make_scene(CanonicalJob("r30", seed=6, fps=30.0, seconds=3.0, distractors=False,
                                    script=events[:1]), [astronaut()])
    with pytest.raises(ValueError, match="differ from the cached GT"):
        planned_micro(other, path)
    rows = [PlannedMicro("r30", "+".join(e.aus), talking, e.intensity_px, found)
            for e, found in zip(planned, (False, True), strict=True)]
    table = recall_table(rows)
    assert "AU12                     0/1" in table and "AU1+AU2                  1/1" in table
    assert table.splitlines()[-1].split()[-1] == "1/2"


def test_event_weights_scale_only_the_ticks_of_the_named_action_units(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``event_weights`` in a spotter recipe: the ticks of a lone AU12 on a talking face
    weigh more, the other event's and the background's do not."""
    pytest.importorskip("torch")
    import train.spotter.recall as recall
    from train.spotter.fit import weigh_events

    _, path, scene = _two_event_scene(tmp_path)
    monkeypatch.setattr(recall, "scene_of", lambda p: scene)
    (track,) = tick_tracks(path, 40.0)
    weigh_events([track], {"AU12": 4.0}, 40.0)      # the astronaut is still: nothing
    assert (track.weights == 1.0).all()
    monkeypatch.setattr(recall, "planned_micro",
                        lambda s, p: (list(planned_micro(s, p)[0]), True))
    weigh_events([track], {"AU12": 4.0}, 40.0)
    t_ms = track.ticks_ns / 1e6
    heavy = track.weights == 4.0
    assert heavy.any() and (track.labels[heavy] == 1).all()
    assert (t_ms[heavy] >= 480).all() and (t_ms[heavy] <= 820).all()
    assert (track.weights[~heavy] == 1.0).all() and track.labels[~heavy].sum() > 0


def test_speaker_corner_motion_measures_movement_along_au12() -> None:
    """train.spotter.visibility: corners moved d px up-and-out on every other frame read as
    a std of d px along AU12; moved sideways only (lip spreading, no lift) by d, they
    read 0.6 d, the cosine of the two directions."""
    from pipeline.faces.canonical import MEDIAPIPE, raw_transform
    from train.spotter.visibility import AU12_DIRECTION, speaker_corner_motion

    need_media()
    still = astronaut()
    m = np.asarray(raw_transform(MEDIAPIPE, still.landmarks[0].astype(np.float64), 128.0))
    per_px = float(np.sqrt(abs(np.linalg.det(m[:2, :2]))))      # canonical px per image px

    def moved(step: np.ndarray) -> BaseFace:
        frames = []
        for k in range(40):
            p = still.landmarks[0].astype(np.float64).copy()
            if k % 2:
                p[291] += step / per_px
                p[61] += step * np.array([-1.0, 1.0]) / per_px
            frames.append(p)
        return BaseFace("moved", still.path, np.repeat(still.frames, 40, axis=0),
                        np.asarray(frames, np.float32), 25.0)

    d = 2.0
    assert speaker_corner_motion(moved(d * AU12_DIRECTION), lag=1) == pytest.approx(d, rel=0.1)
    spread = speaker_corner_motion(moved(np.array([d, 0.0])), lag=1)
    assert spread == pytest.approx(0.6 * d, rel=0.1)


def test_corner_oracle_counts_hits_inside_events_and_false_alarms_outside() -> None:
    from train.spotter.visibility import CornerTrack, corner_oracle

    t = np.arange(0, 60.0, 0.04)                           # one minute of ticks
    lift = np.zeros_like(t)
    lift[(t > 10.1) & (t < 10.3)] = 2.0                    # inside the AU12 event
    lift[(t > 40.0) & (t < 40.2)] = 3.0                    # in no event: a false alarm
    au12 = scripted_micro(25.0, onset_ms=10_000.0, ms=400.0, aus=("AU12",))
    au15 = scripted_micro(25.0, onset_ms=20_000.0, ms=400.0, aus=("AU15",))
    track = CornerTrack(t, lift, [au12, au15], 60.0)
    rate, found = corner_oracle([track], theta=1.0)
    assert rate == pytest.approx(1.0) and found == {"AU12": (1, 1), "AU15": (0, 1)}
    rate, found = corner_oracle([track], theta=2.5)
    assert rate == pytest.approx(1.0) and found["AU12"] == (0, 1)
