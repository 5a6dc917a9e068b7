"""The learned lip-corner detector (train/models/mouth_corner.py, train/spotter/corner.py):
its targets are the corner movement the generator planted (speech-free by construction),
its labels are the corner micro-expressions only, and what the runtime scores tick by tick
through ONNX Runtime is what the training code computes (the larger of the ensemble's and
the corner head's logit)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.spotting.face_frame import FaceFrame
from pipeline.spotting.learned import LearnedSpotter
from tests.pipeline.spotting.conftest import need_media, scripted_micro

torch = pytest.importorskip("torch")

from train.models.mouth_corner import (  # noqa: E402
    CornerFusedSpotter,
    CornerSpotter,
    MouthCornerNet,
)
from train.models.time_contrast import (  # noqa: E402
    StreamSpotterEnsemble,
    TimeContrastStreamSpotter,
    ema_contrast,
)
from train.spotter.canonical import CanonicalJob, cache_canonical, make_scene  # noqa: E402
from train.spotter.corner import CornerTicks, corner_ticks, movement, stretches  # noqa: E402
from train.spotter.fit import export_onnx, track_features  # noqa: E402
from train.spotter.ticks import TickTrack  # noqa: E402

TICK_NS = 40_000_000


def test_targets_are_the_planted_corner_movement_and_labels_the_corner_events(
        tmp_path: Path) -> None:
    from tests.train.test_spotter_canonical import astronaut

    need_media()
    events = (scripted_micro(30.0, onset_ms=400.0, aus=("AU12",), px=2.0),
              scripted_micro(30.0, onset_ms=1400.0, aus=("AU1", "AU2"), px=2.5),
              scripted_micro(30.0, onset_ms=2400.0, aus=("AU15",), px=2.0))
    job = CanonicalJob("k30", seed=7, fps=30.0, seconds=3.2, distractors=False, script=events)
    path = cache_canonical(job, tmp_path, [astronaut()])
    (track,) = corner_ticks(path, make_scene(job, [astronaut()]))
    t_ms = np.arange(len(track.target)) * 40.0
    at = {e.aus: int(np.argmin(np.abs(t_ms - e.apex * 1000 / 30))) for e in events}
    assert track.target[at[("AU12",)]] > 1.5                 # up and out: positive
    assert track.target[at[("AU15",)]] < -1.0                # down: negative
    brows = (t_ms > 1300) & (t_ms < 1800)
    assert (track.target[brows] == 0).all()                  # AU1+2 leaves the corners
    assert (track.target[(t_ms < 350) | ((t_ms > 800) & (t_ms < 2350))] == 0).all()
    assert track.label[at[("AU12",)]] == 1 and track.label[at[("AU15",)]] == 1
    assert (track.label[brows] == 0).all() and (track.weight[brows & (t_ms > 1420)
                                                             & (t_ms < 1680)] == 0).all()
    assert track.crops.shape[1:] == (24, 40) and track.crops.dtype == np.uint8


def _faces(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (64, 64))
    return np.clip(base + rng.normal(0, 8, (n, 64, 64)), 0, 255).astype(np.uint8)


def _corner_logits(corner: CornerSpotter, faces: np.ndarray) -> np.ndarray:
    n = len(faces)
    ticks = CornerTicks("t", faces[:, 40:64, 12:52], np.zeros(n, np.float32),
                        np.zeros(n, np.float32), np.ones(n, np.float32))
    with torch.no_grad():
        return corner.score(torch.from_numpy(
            stretches(movement(corner.net, ticks), corner.back, corner.ahead))).numpy()


def test_the_fused_spotter_serves_the_larger_of_the_two_training_logits(tmp_path) -> None:
    torch.manual_seed(2)
    members = [TimeContrastStreamSpotter(dropout=0.0).eval() for _ in range(2)]
    delay = members[0].delay
    corner = CornerSpotter(MouthCornerNet(), back=8, ahead=delay).eval()
    faces = _faces(3, 40)
    n = len(faces)
    track = TickTrack("t", np.arange(n) * TICK_NS, faces, np.zeros(n, np.float32),
                      np.ones(n, np.float32), np.zeros((0, 2), np.int64), n * 40.0)
    logits = []
    for m in members:
        x = (track_features(m, track) - m.mean) / m.std
        with torch.no_grad():
            logits.append(m(torch.cat([x, ema_contrast(x, m.ema)], 1)[None])[0])
    ensemble = torch.stack(logits).mean(0)[delay:].numpy()
    with torch.no_grad():      # centre the corner head on the ensemble: each wins some ticks
        head = _corner_logits(corner, faces)[:n - delay]
        corner.head[-1].bias += float(np.median(ensemble - head))
    head = _corner_logits(corner, faces)[:n - delay]
    assert (head > ensemble).any() and (head < ensemble).any()

    path = export_onnx(CornerFusedSpotter(StreamSpotterEnsemble(members), corner),
                       tmp_path / "f.onnx", {})
    spotter = LearnedSpotter(model=path, threshold=0.99)
    for i, face in enumerate(faces):
        spotter.push(FaceFrame(i * TICK_NS, face))
    spotter.flush()
    got = np.array([p for _, p in spotter.score_history()])
    # Every tick is scored; the last `delay` ones by the padding at the end of the track
    # (LearnedSpotter.flush), the others equal the training path.
    assert len(got) == n
    np.testing.assert_allclose(got[:n - delay], 1 / (1 + np.exp(-np.maximum(ensemble, head))),
                               atol=1e-4)


def test_the_corner_head_must_score_the_spotters_tick() -> None:
    spotter = TimeContrastStreamSpotter(delay=10)
    with pytest.raises(ValueError, match="same tick"):
        CornerFusedSpotter(spotter, CornerSpotter(MouthCornerNet(), ahead=8))


def test_bundling_stores_the_post_processing_the_runtime_reads_once_per_key(tmp_path) -> None:
    import onnx

    from train.spotter.bundle import main as bundle

    corner = CornerSpotter(MouthCornerNet(), ahead=10)
    path = export_onnx(CornerFusedSpotter(TimeContrastStreamSpotter(delay=10), corner),
                       tmp_path / "f.onnx", {"mestream.spotter.corner": "runs/x/corner.pt"})
    out = tmp_path / "bundled.onnx"
    assert bundle([str(path), str(out), "--threshold", "0.7", "--low", "0.6", "--gap-ms",
                   "400", "--min-ms", "80", "--note", "corner=a lip-corner detector"]) == 0
    keys = [p.key for p in onnx.load(str(out)).metadata_props]
    assert len(keys) == len(set(keys))
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["mestream.spotter.corner"] == "a lip-corner detector"
    spotter = LearnedSpotter(model=out)
    assert (spotter.gap_ms, spotter.latency_ms) == (400.0, 400.0 + 13 * 40.0)
