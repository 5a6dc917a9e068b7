"""The recogniser's optical-flow layer reads a local sub-pixel movement as its size and
direction in pixels, whatever the face's contrast, and exports to ONNX Runtime exactly."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from train.models.au_net import MicroExpAUNet
from train.models.lucas_kanade import LucasKanadeMotion


def _texture(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.normal(size=(128, 128)).astype(np.float32), (0, 0), 3)


def _clip(shifts: list[tuple[float, float]], contrast: float = 1.0) -> torch.Tensor:
    """A 64 px texture whose central 16x16 patch moves by (dx, dy) in each frame."""
    tex = _texture() * contrast + 100.0
    frames = []
    for dx, dy in shifts:
        moved = cv2.warpAffine(tex, np.float32([[1, 0, dx], [0, 1, dy]]), (128, 128),
                               flags=cv2.INTER_CUBIC)
        f = tex.copy()
        f[56:72, 56:72] = moved[56:72, 56:72]
        frames.append(f[32:96, 32:96])
    return torch.from_numpy(np.stack(frames))[None, None]


def test_a_moving_patch_reads_as_its_movement_in_pixels() -> None:
    shifts = [(0, 0), (0.5, 0), (0, -0.5), (1.0, 0.5), (-0.75, 0)]
    flow = LucasKanadeMotion()(_clip(shifts))[0]
    for t, (dx, dy) in enumerate(shifts):
        u = float(flow[0, t, 26:38, 26:38].mean())
        v = float(flow[1, t, 26:38, 26:38].mean())
        assert u == pytest.approx(dx, abs=0.25 * max(abs(dx), 0.4))
        assert v == pytest.approx(dy, abs=0.25 * max(abs(dy), 0.4))
        # The still part of the face reads (almost) no movement.
        assert float(flow[:, t, :10, :10].abs().mean()) < 0.1


def test_the_flow_does_not_depend_on_the_faces_contrast() -> None:
    shifts = [(0, 0), (0.5, 0.25), (1.0, 0.5)]
    low = LucasKanadeMotion()(_clip(shifts, contrast=0.5))
    high = LucasKanadeMotion()(_clip(shifts, contrast=4.0))
    assert torch.allclose(low, high, atol=0.02)
    # A frame difference, what the other 3D-CNNs read, scales with the contrast.
    d_low, d_high = (c[:, :, 2] - c[:, :, 0] for c in (_clip(shifts, 0.5), _clip(shifts, 4.0)))
    assert float(d_high.abs().mean()) > 7 * float(d_low.abs().mean())


def test_the_flow_model_exports_to_onnx_runtime_exactly(tmp_path) -> None:
    import onnxruntime as ort

    model = MicroExpAUNet(frames=18, size=64, num_classes=3, backbone="stcnn",
                          motion="lucas_kanade").eval()
    x = torch.randn(3, 1, 18, 64, 64)
    torch.onnx.export(model, (x[:1],), tmp_path / "m.onnx", input_names=["face"],
                      output_names=["logits", "au_logits"], opset_version=17,
                      dynamic_axes={"face": {0: "n"}}, dynamo=False)
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    logits, aus = sess.run(None, {"face": x.numpy()})
    with torch.no_grad():
        want = model(x)
    np.testing.assert_allclose(logits, want.logits.numpy(), atol=1e-4)
    np.testing.assert_allclose(aus, want.au_logits.numpy(), atol=1e-4)


def test_the_mirror_average_serves_the_mean_of_a_clip_and_its_mirror(tmp_path) -> None:
    """mirror_average (eval mode): class and AU probabilities are the means of the two
    views', so a clip and its mirror image get the same answer; ONNX Runtime agrees."""
    import onnxruntime as ort

    torch.manual_seed(0)
    plain = MicroExpAUNet(frames=18, size=64, num_classes=3, backbone="stcnn",
                          motion="lucas_kanade").eval()
    mirrored = MicroExpAUNet(frames=18, size=64, num_classes=3, backbone="stcnn",
                             motion="lucas_kanade", mirror_average=True).eval()
    mirrored.load_state_dict(plain.state_dict())
    x = torch.randn(2, 1, 18, 64, 64)
    with torch.no_grad():
        a, b, m = plain(x), plain(x.flip(-1)), mirrored(x)
        m_flipped = mirrored(x.flip(-1))
    want = (torch.softmax(a.logits, 1) + torch.softmax(b.logits, 1)) / 2
    assert torch.allclose(torch.softmax(m.logits, 1), want, atol=1e-5)
    want_aus = (torch.sigmoid(a.au_logits) + torch.sigmoid(b.au_logits)) / 2
    assert torch.allclose(torch.sigmoid(m.au_logits), want_aus, atol=1e-5)
    assert torch.allclose(m.logits, m_flipped.logits, atol=1e-4)
    torch.onnx.export(mirrored, (x[:1],), tmp_path / "m.onnx", input_names=["face"],
                      output_names=["logits", "au_logits"], opset_version=17,
                      dynamic_axes={"face": {0: "n"}}, dynamo=False)
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    logits, _ = sess.run(None, {"face": x.numpy()})
    np.testing.assert_allclose(logits, m.logits.numpy(), atol=1e-4)
