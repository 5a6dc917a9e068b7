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
from tests.pipeline.spotting.conftest import ASTRONAUT, need_media, scripted_micro
from train.spotter.canonical import (
    CanonicalJob,
    cache_canonical,
    gray_base,
    make_scene,
    tick_frames,
)
from train.spotter.scenes import planned_micro
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



def test_event_weights_scale_only_the_ticks_of_the_named_action_units(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``event_weights`` in a spotter recipe: the ticks of a lone AU12 on a talking face
    weigh more, the other event's and the background's do not."""
    pytest.importorskip("torch")
    import train.spotter.scenes as scenes
    from train.spotter.fit import weigh_events

    _, path, scene = _two_event_scene(tmp_path)
    monkeypatch.setattr(scenes, "scene_of", lambda p: scene)
    (track,) = tick_tracks(path, 40.0)
    weigh_events([track], {"AU12": 4.0}, 40.0)      # the astronaut is still: nothing
    assert (track.weights == 1.0).all()
    monkeypatch.setattr(scenes, "planned_micro",
                        lambda s, p: (list(planned_micro(s, p)[0]), True))
    weigh_events([track], {"AU12": 4.0}, 40.0)
    t_ms = track.ticks_ns / 1e6
    heavy = track.weights == 4.0
    assert heavy.any() and (track.labels[heavy] == 1).all()
    assert (t_ms[heavy] >= 480).all() and (t_ms[heavy] <= 820).all()
    assert (track.weights[~heavy] == 1.0).all() and track.labels[~heavy].sum() > 0
