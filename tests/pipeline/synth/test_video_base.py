"""A talking base (GRID clip) keeps its motion, and expressions still land on their frames."""

from __future__ import annotations

import numpy as np

from pipeline.synth.scene import SceneSpec, SyntheticScene
from tests.pipeline.synth.conftest import QUIET, region_mask


def test_video_base_talks_and_carries_events(grid_face) -> None:
    scene = SyntheticScene(SceneSpec(seed=6, faces=[grid_face], seconds=30, events_per_minute=15,
                                     micro_fraction=1.0, distractors=QUIET))
    assert len(scene.truth.events) >= 3
    mouth = region_mask(scene, 0, ("AU26", "AU12"))
    diffs = [float(np.abs(scene.render(i + 1, expressions=False)[mouth].astype(int)
                          - scene.render(i, expressions=False)[mouth]).mean())
             for i in range(0, 60, 2)]
    print(f"mouth motion between consecutive frames without events: median "
          f"{np.median(diffs):.2f} grey levels")
    assert np.median(diffs) > 0.5
    for e in scene.truth.events:
        region = region_mask(scene, e.apex, e.aus)
        with_ev = scene.render(e.apex)[region].astype(int)
        without = scene.render(e.apex, expressions=False)[region]
        assert np.abs(with_ev - without).mean() > 0.3, e
        for i in (e.onset - 1, e.offset + 1):
            assert (scene.render(i) == scene.render(i, expressions=False)).all()
