"""Train / serve consistency of the learned spotter: the scores the runtime computes tick by
tick through ONNX Runtime (no torch) equal the training code's whole-sequence forward."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.spotting.face_frame import FaceFrame
from pipeline.spotting.learned import LearnedSpotter

torch = pytest.importorskip("torch")

from train.models.time_contrast import (  # noqa: E402
    StreamSpotterEnsemble,
    TimeContrastStreamSpotter,
    ema_contrast,
)
from train.spotter.fit import export_onnx, flip_index, sequences, track_features  # noqa: E402
from train.spotter.ticks import TickTrack  # noqa: E402

TICK_NS = 40_000_000


def _track(faces: np.ndarray) -> TickTrack:
    n = len(faces)
    return TickTrack("t", np.arange(n) * TICK_NS, faces, np.zeros(n, np.float32),
                     np.ones(n, np.float32), np.zeros((0, 2), np.int64), n * 40.0)


def _faces(seed: int = 0, n: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (64, 64))
    return np.clip(base + rng.normal(0, 8, (n, 64, 64)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("flow_lags", [(), (1, 2, 4)], ids=["differences", "with_flow"])
def test_runtime_scores_equal_the_training_forward(tmp_path, flow_lags) -> None:
    torch.manual_seed(0)
    model = TimeContrastStreamSpotter(dropout=0.0, flow_lags=flow_lags).eval()
    model.mean.uniform_(0.0, 0.2)
    model.std.uniform_(0.5, 2.0)
    faces = _faces()
    track = _track(faces)
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
    # Every tick is scored: those the track itself describes equal the training forward,
    # the last `delay` ones come from the padding at the end (LearnedSpotter.flush).
    assert [t for t, _ in history] == [k * TICK_NS for k in range(len(faces))]
    np.testing.assert_allclose([p for _, p in history][:len(expected)], expected, atol=1e-4)


def test_an_ensemble_runs_as_one_spotter_with_the_mean_logit(tmp_path) -> None:
    torch.manual_seed(1)
    members = [TimeContrastStreamSpotter(dropout=0.0, cells=16).eval() for _ in range(3)]
    faces = _faces(1, 30)
    path = export_onnx(StreamSpotterEnsemble(members), tmp_path / "e.onnx", {})
    spotter = LearnedSpotter(model=path, threshold=0.99)
    for i, face in enumerate(faces):
        spotter.push(FaceFrame(i * TICK_NS, face))
    spotter.flush()
    got = np.array([p for _, p in spotter.score_history()])[:len(faces) - members[0].delay]
    logits = []
    for m in members:
        x = (track_features(m, _track(faces)) - m.mean) / m.std
        with torch.no_grad():
            logits.append(m(torch.cat([x, ema_contrast(x, m.ema)], 1)[None])[0])
    mean = torch.stack(logits).mean(0)[members[0].delay:]
    np.testing.assert_allclose(got, torch.sigmoid(mean).numpy(), atol=1e-4)


def test_flip_augmentation_equals_the_features_of_the_mirrored_face() -> None:
    # A training sequence flipped by the feature map must be what the model would
    # compute from the mirrored faces (flow u changes sign; cells swap left / right).
    # Standardisation is per cell; the map assumes mirror cells share mean and std (as
    # the training set's statistics do, up to noise), so make them share here.
    model = TimeContrastStreamSpotter(cells=16, flow_lags=(1, 2, 4)).eval()
    mirror = flip_index(model).index[:model.features]
    model.mean.uniform_(-0.1, 0.2)
    model.std.uniform_(0.5, 2.0)
    model.mean.copy_((model.mean + model.mean[mirror]) / 2)
    model.std.copy_((model.std + model.std[mirror]) / 2)
    yy, xx = np.mgrid[0:64, 0:64]
    faces = np.stack([127 + 60 * np.sin((xx - 0.3 * t - 5 * (yy > 40)) / 4.0)
                      * np.cos(yy / 5.0) for t in range(20)]).astype(np.uint8)
    seq, mirrored = (sequences(model, [_track(f)], [track_features(model, _track(f))]).xc[0]
                     for f in (faces, faces[:, :, ::-1].copy()))
    flipped = flip_index(model)(seq.float())
    np.testing.assert_allclose(flipped.numpy(), mirrored.float().numpy(), atol=0.05)
