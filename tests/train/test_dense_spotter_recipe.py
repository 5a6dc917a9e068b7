"""The dense spotter's recipe end to end on a tiny cache: windows are labelled by where
an expression's middle falls, the trained model exports with the metadata the runtime
needs, and the real DenseSpotter loads it and scores a scene."""

from __future__ import annotations

import numpy as np
import onnx

from pipeline.spotting.dense import DenseSpotter
from pipeline.spotting.face_frame import FaceFrame
from train.spotter.dense import MACRO, MICRO, NONE, train, window_label

MS = 1_000_000


def test_windows_are_labelled_by_where_the_expression_sits() -> None:
    micro = np.array([[1000 * MS, 1300 * MS]])
    none = np.zeros((0, 2), np.int64)
    assert window_label(micro, none, 1450 * MS, 600 * MS, 0.7) == MICRO   # centred
    assert window_label(none, micro, 1450 * MS, 600 * MS, 0.7) == MACRO
    assert window_label(micro, none, 1250 * MS, 600 * MS, 0.7) is None    # off-centre
    assert window_label(micro, none, 3000 * MS, 600 * MS, 0.7) == NONE    # far away


def write_scene(path, seconds: float = 6.0, fps: float = 30.0) -> None:
    rng = np.random.default_rng(0)
    n = int(seconds * fps)
    pts = (np.arange(n) * 1e9 / fps).astype(np.int64)
    faces = np.full((n, 64, 64), 120, np.uint8) + rng.integers(0, 3, (n, 64, 64),
                                                               dtype=np.uint8)
    micro = np.array([[2000 * MS, 2300 * MS], [4000 * MS, 4300 * MS]], np.int64)
    for a, b in micro:  # a brow-like patch that rises and falls
        inside = (pts >= a) & (pts <= b)
        faces[inside, 10:20, 16:48] += 30
    np.savez(path, faces=faces, pts=pts, tracks=np.zeros(n, np.int32), micro=micro,
             macro=np.zeros((0, 2), np.int64), video_ms=np.float64(seconds * 1000),
             fps=np.float64(fps))


def test_the_recipe_trains_exports_and_the_runtime_loads_it(tmp_path) -> None:
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    write_scene(scenes / "s0_30.npz")
    cfg = {"seed": 0, "window_ms": 600, "frames": 18, "size": 64, "min_inside": 0.7,
           "class_mix": [0.5, 0.0, 0.5], "train_dirs": [str(scenes)],
           "val_dirs": [str(scenes)], "pool": 16, "refresh_every": 0, "steps": 3,
           "batch": 4, "lr": 0.001, "weight_decay": 0.0, "filters": 4, "hidden": 8,
           "dropout": 0.0, "threads": 1, "stride_ms": 66.7, "gap_ms": 150,
           "thresholds": [0.5, 0.9], "out": str(tmp_path / "dense.onnx")}
    out = train(cfg, tmp_path)
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["mestream.trained_on"].startswith("SYNTHETIC")
    assert float(meta["mestream.dense.threshold"]) in (0.5, 0.9)  # chosen on validation
    assert "mestream.dense.validation" in meta
    spotter = DenseSpotter(model=out)
    for i in range(60):
        spotter.push(FaceFrame(i * 33_333_333, np.full((64, 64), 120, np.uint8), None))
    spotter.flush()
    history = spotter.score_history()
    assert history and all(0.0 <= p <= 1.0 for _, p in history)
