"""Micro events: apex displacement 1-3 px on a 128 px face and 170-500 ms; macro events
bigger and longer."""

from __future__ import annotations

import numpy as np

from pipeline.synth.scene import SceneSpec, SyntheticScene
from tests.pipeline.synth.conftest import QUIET


def test_micro_and_macro_sizes_and_durations(astronaut) -> None:
    scene = SyntheticScene(SceneSpec(seed=5, faces=[astronaut], seconds=120,
                                     events_per_minute=12, micro_fraction=0.6,
                                     distractors=QUIET))
    events = scene.truth.events
    micro = [e for e in events if e.kind == "micro"]
    macro = [e for e in events if e.kind == "macro"]
    assert len(micro) >= 5 and len(macro) >= 3
    rows = []
    for e in events:
        # Forward (content) displacement on the canonical grid: exact by construction.
        layer = scene.layers[0]
        forward = layer.field(layer.base_index(e.apex)).grid_field(
            scene.control_displacement(e.apex, distractors=False))
        grid_peak = float(np.sqrt((forward**2).sum(axis=-1)).max())
        # What the image gets: the inverted field warped to scene px, over scene px per
        # canonical px. Its peak sits between grid nodes, so bilinear sampling loses a bit.
        field, px = scene.expression_field(e.apex)
        peak = float(np.sqrt((field**2).sum(axis=-1)).max()) / px
        rows.append((e.kind, e.intensity_px, round(grid_peak, 3), round(peak, 3),
                     e.duration_ms))
        assert abs(grid_peak - e.intensity_px) < 1e-3 * e.intensity_px, rows[-1]
        assert 0.8 * e.intensity_px <= peak <= 1.02 * e.intensity_px, rows[-1]
        # No field at all one frame outside the event.
        for i in (e.onset - 1, e.offset + 1):
            assert not scene.expression_field(i)[0].any()
        lo, hi = (1.0, 3.0) if e.kind == "micro" else (4.0, 10.0)
        assert lo <= e.intensity_px <= hi
        ms_lo, ms_hi = (170, 500) if e.kind == "micro" else (500, 4000)
        assert ms_lo <= e.duration_ms <= ms_hi, rows[-1]
        assert e.onset < e.apex < e.offset
    print("kind requested_px grid_peak_px image_peak_px duration_ms:", *rows, sep="\n")
    assert min(e.intensity_px for e in macro) > max(e.intensity_px for e in micro)
    assert min(e.duration_ms for e in macro) >= max(e.duration_ms for e in micro)
