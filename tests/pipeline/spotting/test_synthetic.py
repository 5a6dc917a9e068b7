"""On a real face (the bundled astronaut) aligned by the production tracker: a scripted
micro-expression is spotted at 30 and 200 fps, a blink or a head shift alone is not."""

from __future__ import annotations

import pytest

from pipeline.spotting.evaluate import frame_span_ns
from pipeline.spotting.flow import OpticalFlowSpotter
from pipeline.spotting.offline import run_spotters
from tests.pipeline.spotting.conftest import QUIET, only, scene_faces


def spot(frames) -> list:
    items = [(0, f) for f in frames] + [(0, None)]
    run = run_spotters(items, OpticalFlowSpotter)
    return run.intervals.get(0, [])


@pytest.mark.parametrize("fps,seconds", [(30.0, 4.0), (200.0, 3.5)])
def test_scripted_micro_expression_is_spotted(fps: float, seconds: float) -> None:
    frames, events = scene_faces(fps, seconds, True, QUIET)
    (event,) = events
    gt = frame_span_ns(event.onset, event.offset, fps)
    micro = [iv for iv in spot(frames) if iv.kind == "micro"]
    assert len(micro) == 1, micro
    assert micro[0].iou(*gt) >= 0.5


@pytest.mark.parametrize("distractor", [
    {"blinks_per_minute": 40.0},
    {"head_per_minute": 40.0},
])
def test_a_distractor_alone_is_no_micro_expression(distractor: dict) -> None:
    frames, _ = scene_faces(30.0, 6.0, False, only(**distractor))
    assert [iv for iv in spot(frames) if iv.kind == "micro"] == []
