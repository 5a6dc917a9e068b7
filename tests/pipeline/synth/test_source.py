"""SyntheticSource: pts from the frame index, None at the end, loadable as a python source
factory."""

from __future__ import annotations

import importlib

from pipeline.synth.scene import SceneSpec
from pipeline.synth.source import SyntheticSource
from tests.pipeline.synth.conftest import ASTRONAUT, _need


def test_reads_frames_with_pts_then_none(astronaut) -> None:
    src = SyntheticSource("cam0", SceneSpec(seed=1, faces=[astronaut], frames=12, fps=25.0))
    src.open()
    got = []
    while (item := src.read()) is not None:
        got.append(item)
    assert [pts for _, pts in got] == [round(i * 1e9 / 25.0) for i in range(12)]
    assert got[0][0].shape == (480, 640, 3) and got[0][0].dtype.name == "uint8"
    assert src.read() is None and src.skip() is None
    src.open()
    assert src.skip() == 0 and src.read()[1] == 40_000_000
    src.close()
    assert src.live is False and src.fps == 25.0


def test_python_factory(astronaut) -> None:
    module, _, attr = "pipeline.synth.source:synthetic_source".partition(":")
    factory = getattr(importlib.import_module(module), attr)
    src = factory("cam1", seed=3, fps=30, width=320, height=240, seconds=1.0,
                  faces=[str(_need(ASTRONAUT))], event_rate=30, label_set="casme2")
    src.open()
    n = 0
    while (item := src.read()) is not None:
        assert item[0].shape == (240, 320, 3)
        n += 1
    assert n == 30 and src.truth.frames == 30 and src.truth.stream == "cam1"
    assert all(e.label_set == "casme2" for e in src.truth.events)
