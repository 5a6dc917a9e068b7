"""Train / serve consistency of the learned spotter: the scores the runtime computes tick by
tick through ONNX Runtime (no torch) equal the training code's whole-sequence forward."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.spotting.face_frame import FaceFrame
from pipeline.spotting.learned import LearnedSpotter

torch = pytest.importorskip("torch")

from train.models.time_contrast import TimeContrastStreamSpotter, ema_contrast  # noqa: E402
from train.spotter.fit import export_onnx, track_features  # noqa: E402
from train.spotter.ticks import TickTrack  # noqa: E402

TICK_NS = 40_000_000


def test_runtime_scores_equal_the_training_forward(tmp_path) -> None:
    torch.manual_seed(0)
    model = TimeContrastStreamSpotter(dropout=0.0).eval()
    model.mean.uniform_(0.0, 0.2)
    model.std.uniform_(0.5, 2.0)
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (64, 64))
    faces = np.clip(base + rng.normal(0, 8, (40, 64, 64)), 0, 255).astype(np.uint8)
    n = len(faces)
    track = TickTrack("t", np.arange(n) * TICK_NS, faces, np.zeros(n, np.float32),
                      np.ones(n, np.float32), np.zeros((0, 2), np.int64), n * 40.0)
    x = (track_features(model, track) - model.mean) / model.std
    with torch.no_grad():
        logits = model(torch.cat([x, ema_contrast(x, model.ema)], 1)[None])[0]
    path = export_onnx(model, tmp_path / "m.onnx", {})
    # Frames at the tick rate (25 fps): tick k is frame k; its score comes `delay` later.
    spotter = LearnedSpotter(model=path, threshold=0.99)
    for i, face in enumerate(faces):
        spotter.push(FaceFrame(i * TICK_NS, face))
    spotter.flush()
    history = spotter.score_history()
    expected = torch.sigmoid(logits[model.delay:]).numpy()
    assert [t for t, _ in history] == [k * TICK_NS for k in range(len(expected))]
    np.testing.assert_allclose([p for _, p in history], expected, atol=1e-4)
