"""TimeContrastedMemoryNet: spatial + temporal CNNs, a time-contrasted feature and a
recurrent "visual memory" for ME spotting, class and intensity.

**This is a RECONSTRUCTION, not the paper's network.** Nag, Bhunia, Konwer, Roy, "Facial
Micro-Expression Spotting and Recognition using Time Contrasted Feature with Visual Memory",
ICASSP 2019 (arXiv 1902.03514). Its full text could not be obtained; only the abstract and
index keywords were (../shared/docs/papers.md, section 2).

Confirmed by the abstract and keywords:

- a joint architecture of a *spatial* network and a *temporal* (optical-flow) network;
- *time-contrasted features* computed from the **feature maps**, credited for spotting;
- a *memory module* that predicts the ME **class** and the ME **intensity** across frames;
- evaluation on CASME II.

Our choices (papers.md 2.3, each behind a constructor switch; none is from the paper):

- backbone: a small VGG-style 2D CNN per frame (``widths``, ``batchnorm``), trained from
  scratch, gray 64 x 64 faces by default;
- temporal input (``temporal_input``): frame differences ``x_t - x_{t-1}`` (first = 0,
  computed in the model) or optical flow ``(u, v)`` computed *outside* the model during
  data preparation (e.g. ``cv2.calcOpticalFlowFarneback`` or TV-L1 between frame ``t-1`` and
  ``t``, or between the onset and ``t``; flow of frame 0 = 0), so the model needs no OpenCV;
- the contrast formula (``contrast``, ``context_k``, ``keep_raw``): ``X_t`` minus the mean of
  ``X_{t-k..t+k}`` (replicate-padded at the ends), or ``X_t - X_0``, or none;
- the memory cell (``memory``): ConvGRU (after Tokmakov et al., "Learning Video Object
  Segmentation with Visual Memory", ICCV 2017, which the title echoes), or a GRU / LSTM on
  spatially pooled features; unidirectional, so the per-frame state is causal;
- the heads: a per-frame ME-ness logit (spotting), clip logits from the pooled hidden
  states (``pool``), and a clip intensity (``intensity``: regression or ``intensity_levels``
  classes); CASME II has no official intensity label, so where the target comes from is
  the training script's choice;
- the loss (:func:`time_contrast_loss`): BCE(spot) + CE(class) + lambda * intensity loss.

Every switch setting exports to ONNX (opset 17, TorchScript exporter): the contrast uses
``avg_pool1d`` over a replicate-padded time axis and the ConvGRU is an unrolled loop over T
(T is fixed at export; the batch axis can be dynamic).

Why one module over 400 lines: seed 2's model family reads as one table (the clip net, its
streaming spotter form, the ensemble and the losses share their layers); split, the
layer table would span files.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

CONTRASTS = ("context", "onset", "none")
MEMORIES = ("convgru", "gru", "lstm")
POOLS = ("last", "mean", "max")
INTENSITIES = ("regression", "classes")
TEMPORAL_INPUTS = ("difference", "flow")


class TimeContrastOutput(NamedTuple):
    """The three heads' logits. A NamedTuple, so ``torch.onnx.export`` sees a plain tuple
    (outputs ``spot``, ``label``, ``intensity`` in that order)."""

    spot: torch.Tensor
    """``(N, T)`` per-frame ME-ness logits (spotting)."""
    label: torch.Tensor
    """``(N, num_classes [+ 1])`` clip class logits."""
    intensity: torch.Tensor
    """``(N,)`` intensity score (regression) or ``(N, L)`` intensity-level logits."""


def time_contrast(x: torch.Tensor, mode: str = "context", k: int = 2) -> torch.Tensor:
    """The time-contrasted feature of ``x`` of shape ``(N, T, ...)`` (time is axis 1).

    - ``"context"``: ``TC_t = X_t - mean(X_{t-k}, ..., X_{t+k})``, the window replicate-padded
      at both ends (computed with ``avg_pool1d``, so it exports to ONNX). Cancels anything
      constant or linear in time over the window and keeps brief local changes; it needs
      ``k`` future frames (``k`` frames of latency when streaming).
    - ``"onset"``: ``TC_t = X_t - X_0`` (the first frame of the clip as the reference).
    - ``"none"``: zeros (no contrast).

    Example:
        >>> x = torch.zeros(1, 5, 2)
        >>> x[0, 2] = 5.0
        >>> time_contrast(x, "context", k=2)[0, :, 0]
        tensor([-1., -1.,  4., -1., -1.])
    """
    if mode == "onset":
        return x - x[:, :1]
    if mode == "none":
        return torch.zeros_like(x)
    if mode != "context":
        raise ValueError(f"contrast must be one of {CONTRASTS}, got {mode!r}")
    if k < 1:
        raise ValueError(f"context_k must be >= 1, got {k}")
    seq = x.reshape(x.shape[0], x.shape[1], -1).transpose(1, 2)    # (N, D, T)
    mean = F.avg_pool1d(F.pad(seq, (k, k), mode="replicate"), 2 * k + 1, stride=1)
    return x - mean.transpose(1, 2).reshape(x.shape)


def frame_difference(frames: torch.Tensor) -> torch.Tensor:
    """``d_t = x_t - x_{t-1}`` over axis 1 of ``(N, T, ...)``, with ``d_0 = 0``."""
    return torch.cat([torch.zeros_like(frames[:, :1]), frames[:, 1:] - frames[:, :-1]], 1)


class _VGGTrunk(nn.Module):
    """Per stage: Conv2d 3x3 (pad 1) [-> BatchNorm] -> ReLU -> MaxPool 2. Side / 2**stages."""

    def __init__(self, in_channels: int, widths: tuple[int, ...], batchnorm: bool):
        super().__init__()
        layers: list[nn.Module] = []
        for w in widths:
            layers.append(nn.Conv2d(in_channels, w, 3, padding=1, bias=not batchnorm))
            if batchnorm:
                layers.append(nn.BatchNorm2d(w))
            layers += [nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            in_channels = w
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t = x.shape[:2]
        y = self.body(x.flatten(0, 1))          # every frame of every clip at once
        return y.reshape(n, t, *y.shape[1:])


class ConvGRU(nn.Module):
    """A one-layer convolutional GRU over ``(N, T, C, h, w)`` -> hidden states
    ``(N, T, hidden, h, w)``, starting from a zero state.

    The input-to-hidden convolution runs on all frames at once; only the hidden-to-hidden
    convolution is in the (unrolled, ONNX-exportable) loop over T. Step 0 uses ``h = 0``
    analytically, so no zero tensor of batch-dependent shape is built.
    """

    def __init__(self, in_channels: int, hidden: int, kernel: int = 3):
        super().__init__()
        self.hidden = hidden
        self.x2h = nn.Conv2d(in_channels, 3 * hidden, kernel, padding=kernel // 2)
        self.h2h = nn.Conv2d(hidden, 3 * hidden, kernel, padding=kernel // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t = x.shape[:2]
        gx = self.x2h(x.flatten(0, 1))
        gx = gx.reshape(n, t, *gx.shape[1:])
        hd = self.hidden
        states = []
        h: torch.Tensor | None = None
        for i in range(t):
            xz, xr, xn = gx[:, i, :hd], gx[:, i, hd:2 * hd], gx[:, i, 2 * hd:]
            if h is None:                       # h_{-1} = 0
                h = torch.sigmoid(xz) * torch.tanh(xn)
            else:
                hz, hr, hn = self.h2h(h).chunk(3, 1)
                z, r = torch.sigmoid(xz + hz), torch.sigmoid(xr + hr)
                h = (1 - z) * h + z * torch.tanh(xn + r * hn)
            states.append(h)
        return torch.stack(states, 1)


class TimeContrastedMemoryNet(nn.Module):
    """RECONSTRUCTION of the time-contrasted feature + visual memory network
    (arXiv 1902.03514; the full text was unavailable, see the module docstring for what
    is confirmed and what is our choice).

    Pipeline: spatial CNN on each frame -> ``F_t``; temporal CNN on the frame difference
    (or given optical flow) -> ``M_t``; ``X_t = [F_t ; M_t]``; time-contrasted
    ``TC_t = time_contrast(X)_t``; memory over ``[X_t ; TC_t]``; heads.

    Args:
        frames: nominal clip length T (>= 2; e.g. 32). ``forward`` accepts any T >= 2; an
            ONNX export fixes T to the example's.
        size: side of the square aligned face (64; must be divisible by ``2**len(widths)``).
        in_channels: 1 (gray) or 3 (RGB).
        num_classes: emotion classes (3).
        no_expression_class: one more clip output, "no expression".
        widths: channels of the VGG-style stages of each stream (16, 32, 64); each stage
            halves the side (64 -> 8 with three stages).
        batchnorm: BatchNorm after each convolution of the streams.
        temporal_input: ``"difference"`` (frame differences, computed here) or ``"flow"``
            (``flow`` must be passed to ``forward``; 2 channels u, v, computed in data prep).
        contrast: ``"context"``, ``"onset"`` or ``"none"`` (see :func:`time_contrast`).
        context_k: half window of the ``"context"`` contrast (2: five frames).
        keep_raw: feed ``[X_t ; TC_t]`` to the memory (True) or ``TC_t`` only (False);
            ignored with ``contrast="none"`` (``X_t`` is fed).
        memory: ``"convgru"`` (on the feature maps), ``"gru"`` or ``"lstm"`` (on spatially
            averaged features).
        hidden: memory state channels / features (64).
        memory_kernel: ConvGRU kernel side (3).
        pool: how the per-frame hidden states become the clip feature: ``"last"``,
            ``"mean"`` or ``"max"`` over T.
        intensity: ``"regression"`` (one score) or ``"classes"`` (``intensity_levels``
            logits).
        intensity_levels: L, intensity classes (3).
        dropout: before the heads (0.3).

    Input: ``frames`` ``(N, T, in_channels, size, size)`` float, normalised aligned faces;
    ``flow`` ``(N, T, 2, size, size)`` or None. Output: :class:`TimeContrastOutput` of
    logits (no sigmoid / softmax): ``spot`` ``(N, T)``, ``label`` ``(N, num_classes [+1])``,
    ``intensity`` ``(N,)`` or ``(N, L)``. Train with :func:`time_contrast_loss`.

    Example:
        >>> m = TimeContrastedMemoryNet(frames=8, size=32, num_classes=3).eval()
        >>> out = m(torch.zeros(2, 8, 1, 32, 32))
        >>> tuple(out.spot.shape), tuple(out.label.shape), tuple(out.intensity.shape)
        ((2, 8), (2, 3), (2,))
    """

    def __init__(self, frames: int = 32, size: int = 64, in_channels: int = 1,
                 num_classes: int = 3, no_expression_class: bool = False,
                 widths: tuple[int, ...] = (16, 32, 64), batchnorm: bool = True,
                 temporal_input: str = "difference", contrast: str = "context",
                 context_k: int = 2, keep_raw: bool = True, memory: str = "convgru",
                 hidden: int = 64, memory_kernel: int = 3, pool: str = "last",
                 intensity: str = "regression", intensity_levels: int = 3,
                 dropout: float = 0.3):
        super().__init__()
        for name, value, allowed in (("temporal_input", temporal_input, TEMPORAL_INPUTS),
                                     ("contrast", contrast, CONTRASTS),
                                     ("memory", memory, MEMORIES), ("pool", pool, POOLS),
                                     ("intensity", intensity, INTENSITIES)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if frames < 2:
            raise ValueError(f"frames must be >= 2 (a temporal model), got {frames}")
        if not widths or size % (2 ** len(widths)):
            raise ValueError(f"size {size} must be divisible by 2**{len(widths)} (widths)")
        if contrast == "context" and context_k < 1:
            raise ValueError(f"context_k must be >= 1, got {context_k}")
        if intensity == "classes" and intensity_levels < 2:
            raise ValueError(f"intensity_levels must be >= 2, got {intensity_levels}")
        self.frames, self.size, self.in_channels = frames, size, in_channels
        self.num_outputs = num_classes + int(no_expression_class)
        self.temporal_input, self.contrast, self.context_k = temporal_input, contrast, context_k
        self.keep_raw, self.memory_type, self.pool, self.intensity = (
            keep_raw, memory, pool, intensity)

        self.spatial = _VGGTrunk(in_channels, widths, batchnorm)
        temporal_channels = 2 if temporal_input == "flow" else in_channels
        self.temporal = _VGGTrunk(temporal_channels, widths, batchnorm)
        x_channels = 2 * widths[-1]
        mem_in = x_channels * (2 if contrast != "none" and keep_raw else 1)
        if memory == "convgru":
            self.memory: nn.Module = ConvGRU(mem_in, hidden, memory_kernel)
        elif memory == "gru":
            self.memory = nn.GRU(mem_in, hidden, batch_first=True)
        else:
            self.memory = nn.LSTM(mem_in, hidden, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.spot_head = nn.Linear(hidden, 1)
        self.label_head = nn.Linear(hidden, self.num_outputs)
        self.intensity_head = nn.Linear(hidden, 1 if intensity == "regression"
                                        else intensity_levels)

    def features(self, frames: torch.Tensor, flow: torch.Tensor | None = None) -> torch.Tensor:
        """The memory's input: ``[X_t ; TC_t]`` (or per the switches), ``(N, T, C, h, w)``."""
        if frames.dim() != 5 or frames.shape[1] < 2:
            raise ValueError(f"frames must be (N, T >= 2, C, H, W), got {tuple(frames.shape)}")
        if self.temporal_input == "flow":
            if flow is None:
                raise ValueError("temporal_input='flow' needs the optical flow (N, T, 2, H, W)")
            motion = flow
        else:
            if flow is not None:
                raise ValueError("flow given, but the model was built with "
                                 "temporal_input='difference'")
            motion = frame_difference(frames)
        x = torch.cat([self.spatial(frames), self.temporal(motion)], 2)   # X_t = [F_t ; M_t]
        if self.contrast == "none":
            return x
        tc = time_contrast(x, self.contrast, self.context_k)
        return torch.cat([x, tc], 2) if self.keep_raw else tc

    def forward(self, frames: torch.Tensor,
                flow: torch.Tensor | None = None) -> TimeContrastOutput:
        x = self.features(frames, flow)
        if self.memory_type == "convgru":
            states = self.memory(x).mean((-2, -1))           # (N, T, hidden)
        else:
            states, _ = self.memory(x.mean((-2, -1)))         # (N, T, hidden)
        states = self.drop(states)
        spot = self.spot_head(states).squeeze(-1)
        if self.pool == "last":
            clip = states[:, -1]
        elif self.pool == "mean":
            clip = states.mean(1)
        else:
            clip = states.amax(1)
        intensity = self.intensity_head(clip)
        if self.intensity == "regression":
            intensity = intensity.squeeze(-1)
        return TimeContrastOutput(spot, self.label_head(clip), intensity)

    def forward_tuple(self, frames: torch.Tensor,
                      flow: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """``forward`` as a plain ``(spot, label, intensity)`` tuple."""
        return tuple(self.forward(frames, flow))


def time_contrast_loss(output: TimeContrastOutput, spot_target: torch.Tensor,
                       label_target: torch.Tensor, intensity_target: torch.Tensor | None,
                       intensity_weight: float = 0.5,
                       spot_pos_weight: float | torch.Tensor | None = None) -> torch.Tensor:
    """Our (reconstructed) multi-task loss, a scalar:

    ``BCEWithLogits(spot, spot_target) + CE(label, label_target) + intensity_weight * I``

    where ``I`` is the MSE of the intensity score (``intensity="regression"``, target
    ``(N,)`` float) or the cross-entropy of the intensity levels (``"classes"``, target
    ``(N,)`` long).

    Args:
        output: the model's output.
        spot_target: ``(N, T)`` float, 1 for frames inside an ME (onset..offset), else 0.
        label_target: ``(N,)`` long class index (``num_classes`` = "no expression" when
            the model has that class).
        intensity_target: the intensity target, or None to leave the term out (CASME II has
            no official intensity label).
        intensity_weight: lambda (0.5).
        spot_pos_weight: BCE weight of ME frames (they are rare: e.g. #neg / #pos), or None.
    """
    pos_weight = None
    if spot_pos_weight is not None:
        pos_weight = torch.as_tensor(spot_pos_weight, dtype=output.spot.dtype,
                                     device=output.spot.device)
    loss = F.binary_cross_entropy_with_logits(output.spot, spot_target.to(output.spot.dtype),
                                              pos_weight=pos_weight)
    loss = loss + F.cross_entropy(output.label, label_target)
    if intensity_target is not None and intensity_weight:
        if output.intensity.dim() == 1:
            term = F.mse_loss(output.intensity, intensity_target.to(output.intensity.dtype))
        else:
            term = F.cross_entropy(output.intensity, intensity_target)
        loss = loss + intensity_weight * term
    return loss



# -- the streaming spotter ---------------------------------------------------------------


def cell_features(window: torch.Tensor, lags: tuple[int, ...], signed_lags: tuple[int, ...],
                  cells: int = 8) -> torch.Tensor:
    """The time-contrasted pixel features of one tick: ``window`` ``(N, W, S, S)`` faces in
    [0, 1], oldest first, newest last (``W = max(lags) + 1``) -> ``(N, F)``: for each lag
    ``k``, the mean absolute difference between the newest face and the face ``k`` ticks
    before in each of ``cells x cells`` cells; for each of ``signed_lags``, the signed mean
    difference per cell (brightening vs darkening: illumination, shading of a fold).
    ``F = cells**2 * (len(lags) + len(signed_lags))``, times 10 (a unit-ish scale).

    >>> w = torch.zeros(1, 3, 16, 16)
    >>> w[0, -1, :8, :8] = 0.5
    >>> f = cell_features(w, (1, 2), (2,), cells=2)
    >>> f.shape, f[0, :4].tolist()
    (torch.Size([1, 12]), [5.0, 0.0, 0.0, 0.0])
    """
    last = window.shape[1] - 1
    cur = window[:, last:]
    k = window.shape[-1] // cells
    out = []
    for lag in lags:
        d = cur - window[:, last - lag:last - lag + 1]
        out.append(F.avg_pool2d(d.abs(), k).flatten(1))
    for lag in signed_lags:
        d = cur - window[:, last - lag:last - lag + 1]
        out.append(F.avg_pool2d(d, k).flatten(1))
    return torch.cat(out, 1) * 10.0


def cell_flow(window: torch.Tensor, lags: tuple[int, ...], cells: int = 8,
              ridge: float = 1e-4) -> torch.Tensor:
    """Per-cell Lucas-Kanade displacement of the newest face against the face ``lag``
    ticks before: ``window`` ``(N, W, S, S)`` in [0, 1] -> ``(N, cells**2 * 2 * len(lags))``,
    per lag the ``u`` (rightwards) of every cell, then ``v`` (downwards), in pixels of
    the ``S`` px face, clipped to +-4.

    Why: the intensity differences of :func:`cell_features` say *that* a cell changed, not
    which way it moved; a lip corner pulled up and out (AU12) and a jaw opening for speech
    both darken and brighten the mouth cells, but move them in different directions.
    One least-squares step per cell (gradients of the mean of the two faces; a small
    ``ridge`` keeps flat cells at ~0), so it is a handful of pooled products, and exports
    to ONNX as plain arithmetic.

    >>> y, x = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    >>> face = lambda dx: 0.5 + 0.4 * torch.sin((x - dx) / 3) * torch.cos(y / 4)
    >>> w = torch.stack([face(0.0), face(0.5)])[None]        # moved 0.5 px right
    >>> f = cell_flow(w, (1,), cells=2)
    >>> [round(v, 1) + 0.0 for v in f[0].tolist()]
    [0.5, 0.5, 0.5, 0.5, 0.0, 0.0, 0.0, 0.0]
    """
    last = window.shape[1] - 1
    cur = window[:, last:]
    k = window.shape[-1] // cells
    out = []
    for lag in lags:
        prev = window[:, last - lag:last - lag + 1]
        mid = (cur + prev) * 0.5
        gx = torch.cat([mid[..., :, 1:2] - mid[..., :, 0:1],
                        (mid[..., :, 2:] - mid[..., :, :-2]) * 0.5,
                        mid[..., :, -1:] - mid[..., :, -2:-1]], -1)
        gy = torch.cat([mid[..., 1:2, :] - mid[..., 0:1, :],
                        (mid[..., 2:, :] - mid[..., :-2, :]) * 0.5,
                        mid[..., -1:, :] - mid[..., -2:-1, :]], -2)
        gt = cur - prev
        sxx = F.avg_pool2d(gx * gx, k) + ridge
        syy = F.avg_pool2d(gy * gy, k) + ridge
        sxy = F.avg_pool2d(gx * gy, k)
        sxt = F.avg_pool2d(gx * gt, k)
        syt = F.avg_pool2d(gy * gt, k)
        det = sxx * syy - sxy * sxy
        u = -(syy * sxt - sxy * syt) / det
        v = -(sxx * syt - sxy * sxt) / det
        out += [u.flatten(1).clamp(-4.0, 4.0), v.flatten(1).clamp(-4.0, 4.0)]
    return torch.cat(out, 1)


class TimeContrastStreamSpotter(nn.Module):
    """The learned spotter's network, run one tick at a time per stream (:meth:`step`, what
    is exported to ONNX) and trained on whole sequences (:meth:`forward`). A streaming,
    CPU-sized variant of our reconstruction of arXiv 1902.03514 (module docstring): our
    choices, not the paper's.

    Per tick ``t`` (faces resampled by pts to a fixed tick, 40 ms by default, so one model
    serves 25 / 30 / 200 fps):

    1. time-contrasted pixel features ``x_t`` (:func:`cell_features`, fixed, not learned:
       per-cell differences of the newest face to the faces ``lags`` ticks before),
       standardised by the training set's mean / std (buffers);
    2. a time-contrasted feature ``c_t = x_t - m_{t-1}`` against an exponential moving
       mean ``m`` of past features (``ema`` per tick; ``m`` starts at the first ``x``);
    3. a learned projection ``z_t = relu(W [x_t ; c_t])`` and a causal GRU "visual
       memory" ``h_t = GRU(z_t, h_{t-1})``;
    4. a per-tick ME-ness logit from ``[h_t ; z_t]``, trained to describe tick
       ``t - delay``: the model sees ``delay`` ticks after the tick it scores (the "out and
       back" of an ME, whether a movement goes on as a macro-expression or speech).

    The recurrent state ``(h, m, started)`` is one flat ``(N, state_size)`` tensor passed in
    and out by :meth:`step`, so a runtime keeps it per stream and batches streams freely.

    Example:
        >>> m = TimeContrastStreamSpotter(size=32).eval()
        >>> logit, state = m.step(torch.rand(3, m.window, 32, 32), torch.zeros(3, m.state_size))
        >>> tuple(logit.shape), tuple(state.shape)
        ((3,), (3, 433))
        >>> x = torch.rand(2, 10, m.features)
        >>> tuple(m(torch.cat([x, x - x.mean(1, keepdim=True)], 2)).shape)
        (2, 10)
    """

    def __init__(self, size: int = 64, lags: tuple[int, ...] = (1, 2, 4, 8),
                 signed_lags: tuple[int, ...] = (2, 8), cells: int = 8, project: int = 64,
                 hidden: int = 48, ema: float = 0.9, delay: int = 10, tick_ms: float = 40.0,
                 dropout: float = 0.2, flow_lags: tuple[int, ...] = (), flow_cells: int = 8):
        super().__init__()
        if not lags or min(lags) < 1 or (signed_lags and min(signed_lags) < 1):
            raise ValueError(f"lags must be >= 1 ticks, got {lags}, {signed_lags}")
        if size % cells or (flow_lags and size % flow_cells):
            raise ValueError(f"size {size} must be divisible by cells {cells} "
                             f"(and flow_cells {flow_cells})")
        if flow_lags and min(flow_lags) < 1:
            raise ValueError(f"flow_lags must be >= 1 ticks, got {flow_lags}")
        if not 0.0 <= ema < 1.0:
            raise ValueError(f"ema must be in [0, 1), got {ema}")
        self.size, self.lags, self.signed_lags, self.cells = size, tuple(lags), \
            tuple(signed_lags), cells
        self.hidden, self.ema, self.delay, self.tick_ms = hidden, ema, delay, tick_ms
        self.flow_lags, self.flow_cells = tuple(flow_lags), flow_cells
        self.window = max(self.lags + self.signed_lags + self.flow_lags) + 1
        self.features = (cells * cells * (len(self.lags) + len(self.signed_lags))
                         + flow_cells * flow_cells * 2 * len(self.flow_lags))
        self.state_size = hidden + self.features + 1
        self.register_buffer("mean", torch.zeros(self.features))
        self.register_buffer("std", torch.ones(self.features))
        self.project = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * self.features, project),
                                     nn.ReLU())
        self.memory = nn.GRU(project, hidden, batch_first=True)
        self.head = nn.Sequential(nn.Linear(hidden + project, 32), nn.ReLU(), nn.Linear(32, 1))

    def raw_features(self, window: torch.Tensor) -> torch.Tensor:
        """Unstandardised ``x_t`` of each window ``(N, W, S, S)`` -> ``(N, features)``:
        :func:`cell_features`, then :func:`cell_flow` when ``flow_lags`` are set."""
        x = cell_features(window, self.lags, self.signed_lags, self.cells)
        if not self.flow_lags:
            return x
        return torch.cat([x, cell_flow(window, self.flow_lags, self.flow_cells)], 1)

    def standardised(self, window: torch.Tensor) -> torch.Tensor:
        """``x_t`` of each window ``(N, W, S, S)`` -> ``(N, features)``."""
        return (self.raw_features(window) - self.mean) / self.std

    def forward(self, xc: torch.Tensor) -> torch.Tensor:
        """Whole sequences of ``[x_t ; c_t]`` ``(N, T, 2 * features)`` (the contrast
        computed over the whole track, as :meth:`step` does) -> logits ``(N, T)`` from a
        zero memory."""
        z = self.project(xc)
        h, _ = self.memory(z)
        return self.head(torch.cat([h, z], 2)).squeeze(2)

    def step(self, window: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One tick of N streams: ``window`` ``(N, W, S, S)`` faces in [0, 1], ``state``
        ``(N, state_size)`` (zeros for a new stream) -> (logit ``(N,)`` describing the tick
        ``delay`` ticks ago, the new state)."""
        x = self.standardised(window)
        h = state[:, :self.hidden]
        m = state[:, self.hidden:self.hidden + self.features]
        started = state[:, -1:]
        m = started * m + (1 - started) * x           # the first tick: m = x
        z = self.project(torch.cat([x, x - m], 1))
        h1 = self._gru_cell(z, h)
        logit = self.head(torch.cat([h1, z], 1)).squeeze(1)
        m = self.ema * m + (1 - self.ema) * x
        return logit, torch.cat([h1, m, torch.ones_like(started)], 1)


    def _gru_cell(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """One step of ``self.memory`` written out (gates r, z, n as torch orders them),
        so the exported graph is plain MatMul / Sigmoid / Tanh."""
        g = self.memory
        gi = x @ g.weight_ih_l0.t() + g.bias_ih_l0
        gh = h @ g.weight_hh_l0.t() + g.bias_hh_l0
        ir, iz, in_ = gi.chunk(3, 1)
        hr, hz, hn = gh.chunk(3, 1)
        r = torch.sigmoid(ir + hr)
        z = torch.sigmoid(iz + hz)
        n = torch.tanh(in_ + r * hn)
        return (1 - z) * n + z * h


def ema_contrast(x: torch.Tensor, ema: float) -> torch.Tensor:
    """``c_t = x_t - m_{t-1}`` over a whole track ``(T, F)`` as
    :meth:`TimeContrastStreamSpotter.step` computes it tick by tick (``m_{-1} = x_0``)."""
    out = torch.empty_like(x)
    m = x[0].clone()
    for t in range(x.shape[0]):
        out[t] = x[t] - m
        m = ema * m + (1 - ema) * x[t]
    return out


class StreamSpotterEnsemble(nn.Module):
    """Several :class:`TimeContrastStreamSpotter` members (the same face size, window,
    delay and tick; different seeds, features or training draws) run as one streaming spotter: the
    logit of a tick is the mean of the members' logits, the state is the members' states
    side by side. It has the members' ``step`` signature and attributes, so it exports and
    runs (``pipeline.spotting.learned``) exactly as one member does. Averaging members
    trained on different draws of synthetic scenes lowers the variance that a single small
    recurrent model shows from seed to seed (validation F1 0.69-0.78 for one recipe).

    Example:
        >>> a, b = TimeContrastStreamSpotter(size=32), TimeContrastStreamSpotter(size=32)
        >>> e = StreamSpotterEnsemble([a, b]).eval()
        >>> w, s = torch.rand(3, e.window, 32, 32), torch.zeros(3, e.state_size)
        >>> logit, state = e.step(w, s)
        >>> la, _ = a.eval().step(w, s[:, :a.state_size])
        >>> lb, _ = b.eval().step(w, s[:, a.state_size:])
        >>> bool(torch.allclose(logit, (la + lb) / 2)), e.state_size == 2 * a.state_size
        (True, True)
    """

    SHARED = ("size", "window", "delay", "tick_ms")
    """What the runtime feeds and reads (each member computes its own features from the
    shared window, so members may differ in cells, lags or flow features)."""

    def __init__(self, members: list[TimeContrastStreamSpotter]):
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        first = members[0]
        for m in members[1:]:
            differ = [k for k in self.SHARED if getattr(m, k) != getattr(first, k)]
            if differ:
                raise ValueError(f"ensemble members differ in {differ}")
        self.members = nn.ModuleList(members)
        for k in (*self.SHARED, "lags", "signed_lags"):   # (lags: metadata only)
            setattr(self, k, getattr(first, k))
        self.sizes = [m.state_size for m in members]
        self.state_size = sum(self.sizes)

    def step(self, window: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """As :meth:`TimeContrastStreamSpotter.step`; the logit is the members' mean."""
        logits, states = [], []
        for m, s in zip(self.members, state.split(self.sizes, 1), strict=True):
            logit, s1 = m.step(window, s)
            logits.append(logit)
            states.append(s1)
        return torch.stack(logits, 0).mean(0), torch.cat(states, 1)
