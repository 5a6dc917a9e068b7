"""MicroExpAUNet: a small 3D-CNN that scores the action units of a clip and its class.

Ours, not from either paper: seed 1's MicroExpSTCNN (arXiv 1904.01390) learns classes
straight from pixels with one 15-frame 3D convolution; here three small 3x3x3 blocks
keep the face's layout (no spatial global pooling: WHERE the motion is - brows, lids,
lip corners - is what tells the action units apart), take the peak over time (a micro-
expression is brief and its apex falls anywhere in a spotted span) and feed two heads:
multi-label action units (:data:`pipeline.recognition.au_rules.AUS`) and the class
logits. The class can then come from the AU rules of the label set
(:mod:`pipeline.recognition.au_rules`) or from the class head.

==========================================  ==========  ==================
layer                                       parameters  output (C, T, H, W)
==========================================  ==========  ==================
input: frames minus the first, normalised   -           1 x 18 x 64 x 64
AvgPool 2x1x1 (pairs of frames)             -           1 x 9 x 64 x 64
Conv3d 16, 3x3x3 stride 1x2x2, BN, ReLU;    464         16 x 9 x 16 x 16
  MaxPool 1x2x2
Conv3d 32, 3x3x3, BN, ReLU; MaxPool 1x2x2   13,888      32 x 9 x 8 x 8
Conv3d 32, 3x3x3, BN, ReLU                  27,712      32 x 9 x 8 x 8
max over time, Flatten, Dropout 0.3         -           2,048
Linear 128, ReLU                            262,272     128
heads: Linear C (logits), Linear 13 (AUs)   387 + 1,677 3 + 13
==========================================  ==========  ==================

(3 classes, T = 18: 306,400 parameters.) The first convolution is strided and the frames
are paired because full-resolution 3D convolutions cost about 3x more CPU time in
training (one ad-hoc timing on a loaded 2-core machine); a strided 3x3 kernel still
reads every pixel. The bundled model uses ``backbone="stcnn"`` (below), which scored
higher on the training domain (pipeline/weights/README.md).
Outputs ``(logits, au_logits)``; train with cross-entropy on the class and binary
cross-entropy on the AUs (:func:`au_net_loss`).

Example:
    >>> import torch
    >>> net = MicroExpAUNet(frames=18, size=64, num_classes=3)
    >>> logits, aus = net(torch.zeros(2, 1, 18, 64, 64))
    >>> tuple(logits.shape), tuple(aus.shape), sum(p.numel() for p in net.parameters())
    ((2, 3), (2, 13), 306400)
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from train.models.lucas_kanade import LucasKanadeMotion

NUM_AUS = 13


class AUNetOutput(NamedTuple):
    logits: torch.Tensor
    """(N, C) class logits."""
    au_logits: torch.Tensor
    """(N, 13) action-unit logits (sigmoid = probability the AU is present)."""


def _block(cin: int, cout: int, pool: tuple[int, int, int],
           stride: tuple[int, int, int] = (1, 1, 1)) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(cin, cout, 3, stride=stride, padding=1, bias=False),
                         nn.BatchNorm3d(cout), nn.ReLU(inplace=True), nn.MaxPool3d(pool))


class MicroExpAUNet(nn.Module):
    """Args: ``frames`` T, ``size`` side of the gray face, ``num_classes``, ``num_aus``,
    ``widths`` of the three blocks, ``hidden`` units, ``dropout``; ``clip_norm`` divides
    each clip by its RMS before the first layer (exports to ONNX; no statistics);
    ``backbone``: ``blocks`` (the table above) or ``stcnn`` (seed 1's trunk: Conv3d 32
    15x3x3, ReLU, MaxPool 3 -> 32 x 1 x 20 x 20 at T = 18, 64 px; 4.1 k + 1.64 M in the
    dense layer); ``motion``: ``difference`` (the input is frames minus the first, as
    above) or ``lucas_kanade`` (the input is the raw frames; a fixed-kernel optical-flow
    layer turns them into per-pixel flow against the first frame, 2 channels, before the
    trunk: face-texture-free motion, see :mod:`train.models.lucas_kanade`; ``clip_norm``
    is then not applied, the flow is in pixels already); ``mirror_average``: in eval
    mode, average the class and AU probabilities with the mirrored clip's (outputs are
    then the logits of those averages; twice the compute)."""

    def __init__(self, frames: int = 18, size: int = 64, num_classes: int = 3,
                 num_aus: int = NUM_AUS, widths: tuple[int, int, int] = (16, 32, 32),
                 hidden: int = 128, dropout: float = 0.3, clip_norm: bool = False,
                 backbone: str = "blocks", motion: str = "difference",
                 mirror_average: bool = False):
        super().__init__()
        self.mirror_average = mirror_average
        if motion not in ("difference", "lucas_kanade"):
            raise ValueError(f"motion must be 'difference' or 'lucas_kanade', got {motion!r}")
        # lucas_kanade: the input is the raw (normalised) frames and the network reads their
        # optical flow against the first frame (train/models/lucas_kanade.py says why).
        self.motion: nn.Module | None = LucasKanadeMotion() if motion == "lucas_kanade" else None
        channels = 2 if self.motion is not None else 1
        self.clip_norm = clip_norm and self.motion is None
        if backbone == "blocks":
            if size % 8:
                raise ValueError(f"size must be a multiple of 8, got {size}")
            w1, w2, w3 = widths
            self.features: nn.Module = nn.Sequential(
                nn.AvgPool3d((2, 1, 1)), _block(channels, w1, (1, 2, 2), stride=(1, 2, 2)),
                _block(w1, w2, (1, 2, 2)), _block(w2, w3, (1, 1, 1)))
        elif backbone == "stcnn":
            # Seed 1's MicroExpSTCNN trunk (32 filters 15x3x3, ReLU, MaxPool 3) under the
            # two heads: the seed model made AU-aware.
            if frames < 15:
                raise ValueError(f"the stcnn backbone needs frames >= 15, got {frames}")
            self.features = nn.Sequential(nn.Conv3d(channels, 32, (15, 3, 3)),
                                          nn.ReLU(inplace=True),
                                          nn.MaxPool3d(3))
        else:
            raise ValueError(f"backbone must be 'blocks' or 'stcnn', got {backbone!r}")
        with torch.no_grad():
            flat = self.features(torch.zeros(1, channels, frames, size, size)
                                 ).amax(dim=2).numel()
        self.fc = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(flat, hidden),
                                nn.ReLU(inplace=True))
        self.head = nn.Linear(hidden, num_classes)
        self.au_head = nn.Linear(hidden, num_aus)

    def forward(self, face: torch.Tensor) -> AUNetOutput:
        if self.mirror_average and not self.training:
            # Test-time average with the mirrored clip (the AUs are bilateral and training
            # mirrors clips): probabilities averaged, returned as logits of the averages.
            a, b = self._forward(face), self._forward(face.flip(-1))
            p = (torch.softmax(a.logits, 1) + torch.softmax(b.logits, 1)) / 2
            q = (torch.sigmoid(a.au_logits) + torch.sigmoid(b.au_logits)) / 2
            q = q.clamp(1e-7, 1 - 1e-7)
            return AUNetOutput(torch.log(p.clamp_min(1e-12)), torch.log(q / (1 - q)))
        return self._forward(face)

    def _forward(self, face: torch.Tensor) -> AUNetOutput:
        if self.motion is not None:
            face = self.motion(face)            # (N, 2, T, H, W) flow in px
        if self.clip_norm:
            # Each clip scaled to unit RMS motion: a face's contrast and the camera's gain
            # then do not change what the network sees (12 training faces are few).
            rms = face.pow(2).mean(dim=(1, 2, 3, 4), keepdim=True).sqrt()
            face = face / (rms + 1e-3)
        x = self.features(face)                 # (N, C, T', H', W')
        x = x.amax(dim=2)                       # peak over time
        h = self.fc(x)
        return AUNetOutput(self.head(h), self.au_head(h))


def au_net_loss(out: AUNetOutput, labels: torch.Tensor, aus: torch.Tensor,
                au_weight: float = 1.0, class_mask: torch.Tensor | None = None
                ) -> torch.Tensor:
    """CE(class) + ``au_weight`` x BCE(AUs). ``class_mask`` (N,) bool leaves clips without
    a class in the label set (CASME II's "others" under MEGC) out of the class term only:
    their AUs still teach the AU head."""
    bce = F.binary_cross_entropy_with_logits(out.au_logits, aus)
    if class_mask is not None and not bool(class_mask.any()):
        return au_weight * bce
    logits, y = out.logits, labels
    if class_mask is not None:
        logits, y = logits[class_mask], y[class_mask]
    return F.cross_entropy(logits, y) + au_weight * bce
