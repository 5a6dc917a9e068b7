"""MicroExpFuseNet: separate 3D-CNN streams on the eye and mouth regions, fused.

Reddy et al., IJCNN 2019 (arXiv 1904.01390), Tables II (intermediate fusion) and III
(late fusion) and the authors' Keras code. Each stream sees a ``(1, T, 32, 32)`` gray
crop (the pipeline's face alignment cuts them: ``eyes`` and ``mouth`` of a face message).

Intermediate fusion (T = 96, 3 classes): per stream Conv3d 32 (15, 3, 3) ReLU, MaxPool3d 3,
Dropout, Flatten (86,400); concatenate (172,800); Linear 1024; Dropout; Linear 128;
Dropout; Linear C. Total 177,088,515 (T = 18: 6,694,915).

Late fusion: per stream Conv3d, MaxPool, Dropout, Flatten, Linear 1024, Dropout,
Linear 128, Dropout; concatenate (256); Linear C. Total 177,221,123 (T = 18: 6,827,523).

In the code the 1024 and 128 Linear layers have no activation (the paper gives none);
``faithful=True`` (default) keeps them linear, ``faithful=False`` adds ReLUs.
"""

from __future__ import annotations

import torch
from torch import nn

from train.models.init import keras_init


class _RegionStream(nn.Module):
    """Conv3d -> ReLU -> MaxPool3d -> Dropout -> Flatten for one region."""

    def __init__(self, frames: int, size: int, filters: int, kernel_t: int, kernel_hw: int,
                 dropout: float):
        super().__init__()
        if frames < kernel_t:
            raise ValueError(f"frames must be >= the temporal kernel {kernel_t}, got {frames}")
        self.conv = nn.Conv3d(1, filters, (kernel_t, kernel_hw, kernel_hw))
        self.pool = nn.MaxPool3d(3)
        self.drop = nn.Dropout(dropout)
        t, hw = (frames - kernel_t + 1) // 3, (size - kernel_hw + 1) // 3
        self.flat = filters * t * hw * hw
        if self.flat == 0:
            raise ValueError(f"input {frames}x{size}x{size} is too small for the network")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.pool(torch.relu(self.conv(x)))).flatten(1)


def _dense(inp: int, out: int, faithful: bool) -> nn.Module:
    return nn.Linear(inp, out) if faithful else nn.Sequential(nn.Linear(inp, out), nn.ReLU())


class MicroExpFuseNetIntermediate(nn.Module):
    """MicroExpFuseNet with intermediate fusion (arXiv 1904.01390, Table II).

    Args:
        frames: T (96 for CAS(ME)^2, 18 for SMIC).
        size: side of each square region crop (32).
        num_classes: emotion classes (3).
        no_expression_class: one more output for "no expression".
        filters, kernel_t, kernel_hw: the per-stream Conv3D, 32 x (15, 3, 3).
        hidden: widths of the two dense layers after fusion (1024, 128).
        dropout: 0.5.
        faithful: linear dense layers, as the code has them.

    Input: ``eyes`` and ``mouth``, each ``(N, 1, T, size, size)``. Output: ``(N, C)`` logits.

    Example:
        >>> m = MicroExpFuseNetIntermediate(frames=18)
        >>> m(torch.zeros(2, 1, 18, 32, 32), torch.zeros(2, 1, 18, 32, 32)).shape
        torch.Size([2, 3])
    """

    def __init__(self, frames: int = 96, size: int = 32, num_classes: int = 3,
                 no_expression_class: bool = False, filters: int = 32, kernel_t: int = 15,
                 kernel_hw: int = 3, hidden: tuple[int, int] = (1024, 128),
                 dropout: float = 0.5, faithful: bool = True):
        super().__init__()
        self.frames, self.size = frames, size
        self.num_outputs = num_classes + int(no_expression_class)
        self.eyes = _RegionStream(frames, size, filters, kernel_t, kernel_hw, dropout)
        self.mouth = _RegionStream(frames, size, filters, kernel_t, kernel_hw, dropout)
        self.head = nn.Sequential(
            _dense(self.eyes.flat + self.mouth.flat, hidden[0], faithful), nn.Dropout(dropout),
            _dense(hidden[0], hidden[1], faithful), nn.Dropout(dropout),
            nn.Linear(hidden[1], self.num_outputs))
        keras_init(self)

    def forward(self, eyes: torch.Tensor, mouth: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.eyes(eyes), self.mouth(mouth)], dim=1))


class MicroExpFuseNetLate(nn.Module):
    """MicroExpFuseNet with late fusion (arXiv 1904.01390, Table III): each region has
    its own dense layers; only the two 128-d outputs are concatenated.

    Args and input/output as :class:`MicroExpFuseNetIntermediate`.

    Example:
        >>> m = MicroExpFuseNetLate(frames=18)
        >>> m(torch.zeros(2, 1, 18, 32, 32), torch.zeros(2, 1, 18, 32, 32)).shape
        torch.Size([2, 3])
    """

    def __init__(self, frames: int = 96, size: int = 32, num_classes: int = 3,
                 no_expression_class: bool = False, filters: int = 32, kernel_t: int = 15,
                 kernel_hw: int = 3, hidden: tuple[int, int] = (1024, 128),
                 dropout: float = 0.5, faithful: bool = True):
        super().__init__()
        self.frames, self.size = frames, size
        self.num_outputs = num_classes + int(no_expression_class)
        self.eyes = _RegionStream(frames, size, filters, kernel_t, kernel_hw, dropout)
        self.mouth = _RegionStream(frames, size, filters, kernel_t, kernel_hw, dropout)

        def tower(flat: int) -> nn.Module:
            return nn.Sequential(_dense(flat, hidden[0], faithful), nn.Dropout(dropout),
                                 _dense(hidden[0], hidden[1], faithful), nn.Dropout(dropout))

        self.eyes_dense = tower(self.eyes.flat)
        self.mouth_dense = tower(self.mouth.flat)
        self.out = nn.Linear(2 * hidden[1], self.num_outputs)
        keras_init(self)

    def forward(self, eyes: torch.Tensor, mouth: torch.Tensor) -> torch.Tensor:
        e = self.eyes_dense(self.eyes(eyes))
        m = self.mouth_dense(self.mouth(mouth))
        return self.out(torch.cat([e, m], dim=1))
