"""The spotters are online: the score they compute frame by frame equals a batch
computation over the whole clip, and every interval comes out at most ``latency_ms`` of pts
after its offset."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pipeline.spotting.face_frame import FaceFrame
from pipeline.spotting.flow import OpticalFlowSpotter
from pipeline.spotting.lbp import LBPChiSquareSpotter
from pipeline.spotting.lbp_features import block_histograms, chi_square, uniform_lbp
from tests.pipeline.spotting.conftest import textured_face

MS = 1_000_000


def bump_clip(fps: float, seconds: float = 4.0, apex_ms: float = 2000.0, px: float = 2.5,
              half_ms: float = 150.0, cx: float = 64.0, rx: float = 26.0, cy: float = 40.0
              ) -> list[FaceFrame]:
    """A still textured face with noise; a patch (the "brow") moves up by ``px`` and back,
    raised-cosine, ``half_ms`` each way around ``apex_ms``."""
    base = textured_face()
    rng = np.random.default_rng(1)
    frames = []
    yy, xx = np.mgrid[0:128, 0:128].astype(np.float32)
    # A smooth blob of motion over the brows' place (x 0.2..0.8, y 0.25..0.38).
    weight = np.exp(-(((xx - cx) / rx) ** 2) - (((yy - cy) / 7) ** 2)).astype(np.float32)
    for i in range(round(seconds * fps)):
        t = i * 1000.0 / fps
        u = np.clip((t - (apex_ms - half_ms)) / (2 * half_ms), 0, 1)
        amp = px * np.sin(np.pi * u) ** 2
        img = cv2.remap(base, xx, (yy + amp * weight).astype(np.float32), cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)
        noisy = np.clip(img + rng.normal(0, 1.5, img.shape), 0, 255).astype(np.uint8)
        frames.append(FaceFrame(round(i * 1e9 / fps), noisy, None))
    return frames


def run_online(spotter, frames: list[FaceFrame]) -> list[tuple[int, object]]:
    """(pts of the frame that emitted it, interval)."""
    out = []
    for f in frames:
        out += [(f.pts_ns, iv) for iv in spotter.push(f)]
    out += [(frames[-1].pts_ns, iv) for iv in spotter.flush()]
    return out


@pytest.mark.parametrize("fps", [30.0, 200.0])
def test_lbp_online_score_equals_batch(fps: float) -> None:
    frames = bump_clip(fps, seconds=3.0)
    # me_ms = 200: k = 100 ms is a whole number of frames at both rates (the online
    # spotter finds its neighbours by pts, the batch one by index).
    spotter = LBPChiSquareSpotter(me_ms=200, history_ms=60_000)
    emitted = run_online(spotter, frames)
    # Batch: the baseline over the whole clip at once, k in frames.
    k = round(spotter.k_ms * fps / 1000)
    hist = np.stack([block_histograms(uniform_lbp(f.gray), 6, 10) for f in frames])
    n = len(frames)
    d = chi_square(hist[k:n - k], (hist[: n - 2 * k] + hist[2 * k:]) / 2)
    top = np.sort(d, axis=1)[:, -12:].mean(axis=1)          # F(t) for t = k .. n-k-1
    c = np.maximum(0, top[k:-k] - (top[: -2 * k] + top[2 * k:]) / 2)   # t = 2k .. n-2k-1
    online = dict(spotter.score_history())
    batch = {frames[2 * k + j].pts_ns: float(v) for j, v in enumerate(c)}
    # The online spotter skips the few frames at the very ends whose neighbours k away
    # fall (by rounding) outside the clip; everywhere else the two agree.
    common = sorted(set(batch) & set(online))
    assert len(common) >= 0.9 * len(batch)
    assert np.allclose([online[p] for p in common], [batch[p] for p in common], atol=1e-6)
    # Intervals come out in time.
    micro = [(at, iv) for at, iv in emitted if iv.kind == "micro"]
    for at, iv in micro:
        assert at - iv.offset_ns <= spotter.latency_ms * MS


@pytest.mark.parametrize("fps", [30.0, 200.0])
def test_flow_spotter_finds_the_bump_online_and_in_time(fps: float) -> None:
    frames = bump_clip(fps)
    spotter = OpticalFlowSpotter()
    emitted = run_online(spotter, frames)
    micro = [(at, iv) for at, iv in emitted if iv.kind == "micro"]
    assert len(micro) == 1, [iv for _, iv in emitted]
    at, iv = micro[0]
    gt = (1850 * MS, 2150 * MS)
    assert iv.iou(*gt) >= 0.5
    assert at - iv.offset_ns <= spotter.latency_ms * MS
    assert at < frames[-1].pts_ns          # emitted while streaming, not at flush
    # Feeding the same frames again from a fresh spotter gives the same result.
    again = run_online(OpticalFlowSpotter(), frames)
    assert [i for _, i in again] == [i for _, i in emitted]
    assert spotter.score_history()


def test_flow_spotter_bilateral_rule() -> None:
    """The generator's AUs are bilateral: a movement of one side of the face only (here the
    image-left brow) is not reported with ``bilateral`` on, and is with it off."""
    frames = bump_clip(30.0, cx=36.0, rx=8.0)
    on = [iv for _, iv in run_online(OpticalFlowSpotter(), frames) if iv.kind == "micro"]
    off = [iv for _, iv in run_online(OpticalFlowSpotter(bilateral=False), frames)
           if iv.kind == "micro"]
    assert on == []
    assert any(abs(iv.apex_ns - 2000 * MS) <= 100 * MS for iv in off)


def test_flow_spotter_keeps_a_mouth_movement_of_a_still_face() -> None:
    """The speech rule drops a mouth-only candidate only when the mouth kept moving around
    it: on a still face a lone mouth movement is reported and the rule saw it quiet."""
    frames = bump_clip(30.0, cy=104.0, rx=16.0)
    spotter = OpticalFlowSpotter()
    out = [iv for _, iv in run_online(spotter, frames) if iv.kind == "micro"]
    assert any(abs(iv.apex_ns - 2000 * MS) <= 100 * MS for iv in out)
    mouth = [d for d in spotter.decisions if abs(d[0] - 2000 * MS) <= 100 * MS]
    assert mouth and mouth[0][1] and mouth[0][2] < spotter.speech_level
