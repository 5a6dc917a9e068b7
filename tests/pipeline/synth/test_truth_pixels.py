"""Ground truth matches pixels: the motion in an event's region peaks at its apex, and is
at noise level outside events (still base, sensor noise on)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from pipeline.synth.scene import SceneSpec, SyntheticScene
from tests.pipeline.synth.conftest import QUIET, region_mask


def test_energy_peaks_at_apex_and_is_noise_outside(astronaut) -> None:
    spec = SceneSpec(seed=11, faces=[astronaut], seconds=30, events_per_minute=12,
                     micro_fraction=1.0, distractors=replace(QUIET, noise_sigma=2.0))
    scene = SyntheticScene(spec)
    events = scene.truth.events
    assert len(events) >= 3
    busy = set()
    for e in events:
        busy.update(range(e.onset - 3, e.offset + 4))
    report = []
    for e in events:
        ys, xs = region_mask(scene, e.apex, e.aus)
        ref = scene.render(e.onset - 1)[ys, xs].astype(np.float32)

        def energy(i: int, ys=ys, xs=xs, ref=ref) -> float:
            return float(((scene.render(i)[ys, xs].astype(np.float32) - ref) ** 2).mean())

        span = range(e.onset - 3, e.offset + 4)
        curve = {i: energy(i) for i in span}
        # Noise level: the same region vs the same reference, frames away from every event.
        quiet = [i for i in range(e.onset - 40, e.offset + 40)
                 if i not in busy and 0 <= i < scene.total][:10]
        noise = max(energy(i) for i in quiet)
        peak = max(curve, key=curve.__getitem__)
        report.append((e.label, e.aus, e.intensity_px, e.apex, peak,
                       round(curve[peak], 2), round(noise, 2)))
        assert abs(peak - e.apex) <= 1, report[-1]
        assert curve[peak] > 1.5 * noise, report[-1]
        for i in (e.onset - 2, e.offset + 2):
            assert curve[i] <= 1.2 * noise, (i, curve[i], report[-1])
    print("label aus px apex peak peak_energy noise_energy:", *report, sep="\n")
