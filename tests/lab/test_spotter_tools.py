"""The lab's spotter tools still do what their tables say: recall tables from replanned
cached scenes, and the lip-corner visibility measurements."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lab.spotter.recall import PlannedMicro, recall_table
from pipeline.synth.base_faces import BaseFace
from tests.pipeline.spotting.conftest import need_media, scripted_micro
from tests.train.test_spotter_canonical import _two_event_scene, astronaut
from train.spotter.canonical import CanonicalJob, make_scene
from train.spotter.scenes import planned_micro


def test_recall_tables_label_each_cached_event_with_its_action_units(tmp_path: Path) -> None:
    """lab.spotter.recall replans a cached scene to learn what each GT event was; a
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


def test_speaker_corner_motion_measures_movement_along_au12() -> None:
    """lab.spotter.visibility: corners moved d px up-and-out on every other frame read as
    a std of d px along AU12; moved sideways only (lip spreading, no lift) by d, they
    read 0.6 d, the cosine of the two directions."""
    from lab.spotter.visibility import speaker_corner_motion
    from pipeline.faces.canonical import MEDIAPIPE, raw_transform
    from train.spotter.corner import AU12_DIRECTION

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
    from lab.spotter.visibility import CornerTrack, corner_oracle

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
