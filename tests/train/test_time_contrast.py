"""TimeContrastedMemoryNet (a RECONSTRUCTION of arXiv 1902.03514, see
train/models/time_contrast.py): shapes for the switches, the time-contrasted feature,
gradients to every head, a tiny overfit, and ONNX export checked with ONNX Runtime."""

from __future__ import annotations

import io
import itertools

import pytest
import torch

from train.models import TimeContrastedMemoryNet
from train.models.time_contrast import (
    TimeContrastOutput,
    frame_difference,
    time_contrast,
    time_contrast_loss,
)

SMALL = {"widths": (8, 16, 32), "hidden": 32}   # fast variants for the training checks


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def targets(n: int, t: int, intensity: str, gen: torch.Generator | None = None):
    spot = (torch.rand(n, t, generator=gen) > 0.7).float()
    label = torch.randint(0, 3, (n,), generator=gen)
    if intensity == "regression":
        return spot, label, torch.rand(n, generator=gen)
    return spot, label, torch.randint(0, 3, (n,), generator=gen)


# --- shapes --------------------------------------------------------------------------------

@pytest.mark.parametrize(("contrast", "memory", "intensity"), list(itertools.product(
    ["context", "onset", "none"], ["convgru", "gru", "lstm"], ["regression", "classes"])))
def test_output_shapes_for_every_switch(contrast, memory, intensity) -> None:
    m = TimeContrastedMemoryNet(frames=8, size=32, contrast=contrast, memory=memory,
                                intensity=intensity, intensity_levels=4).eval()
    with torch.no_grad():
        out = m(torch.randn(2, 8, 1, 32, 32))
    assert isinstance(out, TimeContrastOutput)
    assert out.spot.shape == (2, 8)
    assert out.label.shape == (2, 3)
    assert out.intensity.shape == ((2,) if intensity == "regression" else (2, 4))


@pytest.mark.parametrize(("kwargs", "t", "size"), [
    ({}, 16, 64),
    ({"contrast": "onset", "keep_raw": False}, 12, 64),
    ({"pool": "mean", "no_expression_class": True}, 8, 32),
    ({"pool": "max", "in_channels": 3, "memory": "gru"}, 8, 32),
    ({"context_k": 4, "batchnorm": False}, 8, 32),   # window wider than the clip
    ({"temporal_input": "flow"}, 10, 64),
])
def test_output_shapes_for_other_settings(kwargs, t, size) -> None:
    m = TimeContrastedMemoryNet(frames=t, size=size, **kwargs).eval()
    frames = torch.randn(2, t, kwargs.get("in_channels", 1), size, size)
    flow = torch.randn(2, t, 2, size, size) if kwargs.get("temporal_input") == "flow" else None
    with torch.no_grad():
        spot, label, intensity = m(frames, flow)
    assert spot.shape == (2, t)
    assert label.shape == (2, 3 + int(kwargs.get("no_expression_class", False)))
    assert intensity.shape == (2,)
    assert len(m.forward_tuple(frames, flow)) == 3


def test_default_model_is_small() -> None:
    assert n_params(TimeContrastedMemoryNet()) < 1_000_000


def test_bad_settings_and_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="memory"):
        TimeContrastedMemoryNet(memory="transformer")
    with pytest.raises(ValueError, match="divisible"):
        TimeContrastedMemoryNet(size=60)
    with pytest.raises(ValueError, match="frames"):
        TimeContrastedMemoryNet(frames=1)
    with pytest.raises(ValueError, match="optical flow"):
        TimeContrastedMemoryNet(frames=4, size=32, temporal_input="flow")(
            torch.zeros(1, 4, 1, 32, 32))
    with pytest.raises(ValueError, match="difference"):
        TimeContrastedMemoryNet(frames=4, size=32)(torch.zeros(1, 4, 1, 32, 32),
                                                   torch.zeros(1, 4, 2, 32, 32))
    with pytest.raises(ValueError, match="T >= 2"):
        TimeContrastedMemoryNet(frames=4, size=32)(torch.zeros(1, 1, 1, 32, 32))


# --- the time-contrasted feature -----------------------------------------------------------

@pytest.mark.parametrize("mode", ["context", "onset"])
def test_time_contrast_cancels_what_is_constant_over_time(mode) -> None:
    torch.manual_seed(0)
    x = (torch.randn(2, 1, 6, 4, 4) * 10 + 3).expand(2, 12, 6, 4, 4)
    assert torch.allclose(time_contrast(x, mode, 2), torch.zeros(()), atol=1e-5)


def test_context_contrast_cancels_a_slow_ramp_away_from_the_ends() -> None:
    ramp = torch.arange(10.0).reshape(1, 10, 1) * torch.ones(1, 1, 3)
    tc = time_contrast(ramp, "context", 2)
    assert torch.allclose(tc[:, 2:-2], torch.zeros(()), atol=1e-5)


@pytest.mark.parametrize("mode", ["context", "onset"])
def test_time_contrast_responds_to_a_brief_local_change(mode) -> None:
    torch.manual_seed(0)
    k, t0 = 2, 6
    x = torch.randn(1, 1, 4, 5, 5).expand(1, 14, 4, 5, 5).clone()
    x[:, t0:t0 + 2, 1, 2, 2] += 1.0                   # a 2-frame bump at one place
    tc = time_contrast(x, mode, k).abs()
    assert tc[0, t0, 1, 2, 2] > 0.5
    elsewhere = tc[0, t0].clone()
    elsewhere[1, 2, 2] = 0
    assert elsewhere.max() < 1e-5                     # only where it changed
    # far from the bump (context) or before it (onset), nothing
    quiet = [0, 1, 2, 3, 10, 11, 12, 13] if mode == "context" else list(range(t0))
    assert torch.allclose(tc[0, quiet], torch.zeros(()), atol=1e-6)
    # the bump frames stand out from every other frame
    assert tc[0, t0, 1, 2, 2] > tc[0, [i for i in range(14) if i not in (t0, t0 + 1)]].max()


def test_time_contrast_none_and_bad_mode() -> None:
    x = torch.randn(2, 5, 3)
    assert torch.equal(time_contrast(x, "none", 2), torch.zeros_like(x))
    with pytest.raises(ValueError, match="contrast"):
        time_contrast(x, "median", 2)


def test_frame_difference_starts_at_zero() -> None:
    x = torch.arange(4.0).reshape(1, 4, 1) ** 2
    assert frame_difference(x).flatten().tolist() == [0.0, 1.0, 3.0, 5.0]


def test_the_memory_is_causal_without_a_future_context() -> None:
    torch.manual_seed(0)
    m = TimeContrastedMemoryNet(frames=10, size=32, contrast="onset").eval()
    a = torch.randn(1, 10, 1, 32, 32)
    b = a.clone()
    b[:, 7:] += 1.0
    with torch.no_grad():
        sa, sb = m(a).spot, m(b).spot
    assert torch.allclose(sa[:, :7], sb[:, :7], atol=1e-6)
    assert not torch.allclose(sa[:, 7:], sb[:, 7:])


# --- training ------------------------------------------------------------------------------

@pytest.mark.parametrize(("memory", "intensity"), [
    ("convgru", "regression"), ("gru", "classes"), ("lstm", "regression")])
def test_gradient_reaches_every_parameter(memory, intensity) -> None:
    torch.manual_seed(0)
    m = TimeContrastedMemoryNet(frames=6, size=32, memory=memory, intensity=intensity,
                                dropout=0.0, **SMALL)
    out = m(torch.randn(2, 6, 1, 32, 32))
    time_contrast_loss(out, *targets(2, 6, intensity), spot_pos_weight=3.0).backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_loss_without_intensity_target_leaves_the_intensity_head_alone() -> None:
    torch.manual_seed(0)
    m = TimeContrastedMemoryNet(frames=4, size=32, **SMALL)
    spot, label, _ = targets(2, 4, "regression")
    time_contrast_loss(m(torch.randn(2, 4, 1, 32, 32)), spot, label, None).backward()
    assert m.intensity_head.weight.grad is None
    assert m.label_head.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("intensity", ["regression", "classes"])
def test_overfits_a_few_clips(intensity) -> None:
    torch.manual_seed(0)
    m = TimeContrastedMemoryNet(frames=8, size=32, intensity=intensity, dropout=0.0, **SMALL)
    frames = torch.randn(8, 8, 1, 32, 32)
    tgt = targets(8, 8, intensity)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        opt.zero_grad()
        loss = time_contrast_loss(m(frames), *tgt)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.4 * losses[0], losses   # here: about 0.22 and 0.12


# --- ONNX ----------------------------------------------------------------------------------

def _export(model: torch.nn.Module, args: tuple, names: list[str]) -> bytes:
    """torch.onnx.export (TorchScript exporter, opset 17, dynamic batch) to bytes."""
    outputs = ["spot", "label", "intensity"]
    f = io.BytesIO()
    torch.onnx.export(model, args, f, dynamo=False, opset_version=17, input_names=names,
                      output_names=outputs,
                      dynamic_axes={k: {0: "batch"} for k in names + outputs})
    return f.getvalue()


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("kwargs", [
    {},
    {"contrast": "onset", "memory": "gru", "intensity": "classes", "pool": "mean"},
    {"contrast": "none", "memory": "lstm", "pool": "max"},
    {"temporal_input": "flow", "keep_raw": False},
])
def test_onnx_export_matches_onnxruntime(kwargs) -> None:
    import onnxruntime as ort
    torch.manual_seed(0)
    m = TimeContrastedMemoryNet(frames=8, size=32, **kwargs).eval()
    flow = kwargs.get("temporal_input") == "flow"
    names = ["frames", "flow"] if flow else ["frames"]

    def inputs(n: int) -> tuple[torch.Tensor, ...]:
        x = torch.randn(n, 8, 1, 32, 32)
        return (x, torch.randn(n, 8, 2, 32, 32)) if flow else (x,)

    session = ort.InferenceSession(_export(m, inputs(2), names),
                                   providers=["CPUExecutionProvider"])
    args = inputs(3)                                  # another batch size: dynamic axis
    got = session.run(None, {n: a.numpy() for n, a in zip(names, args, strict=True)})
    with torch.no_grad():
        ref = m(*args)
    for g, r in zip(got, ref, strict=True):
        assert g.shape == tuple(r.shape)
        assert torch.allclose(torch.from_numpy(g), r, atol=1e-4)
