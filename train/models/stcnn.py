"""MicroExpSTCNN: a single 3D convolution over the whole face clip.

Reddy, Karri, Dubey, Mukherjee, "Spontaneous Facial Micro-Expression Recognition using
3D Spatiotemporal Convolutional Neural Networks", IJCNN 2019 (arXiv 1904.01390), Table I
and the authors' Keras code. Layer table (CAS(ME)^2 shapes, T = 96, 64 x 64, 3 classes):

=========================  ==========  =====================
layer                      parameters  output (C, T, H, W)
=========================  ==========  =====================
input                      -           1 x 96 x 64 x 64
Conv3d 32, (15, 3, 3), ReLU 4,352      32 x 82 x 62 x 62
MaxPool3d 3                -           32 x 27 x 20 x 20
Dropout 0.5, Flatten       -           345,600
Linear 128, ReLU           44,236,928  128
Dropout 0.5, Linear C      387         3
=========================  ==========  =====================

Total 44,241,667 (T = 96) and 1,643,267 (SMIC: T = 18). The model returns logits (no
softmax: train with ``CrossEntropyLoss``).
"""

from __future__ import annotations

import torch
from torch import nn

from train.models.init import keras_init


class MicroExpSTCNN(nn.Module):
    """MicroExpSTCNN (arXiv 1904.01390, Table I).

    Args:
        frames: T, clip length (96 for CAS(ME)^2, 18 for SMIC; at least ``kernel_t``).
        size: side of the square gray face (64 in the paper).
        num_classes: emotion classes (3 in the paper).
        no_expression_class: add one more output, "no expression", for dense window
            classification over a stream.
        filters: Conv3D filters (32).
        kernel_t, kernel_hw: the 3D kernel, (15, 3, 3) in the paper (temporal first here;
            Keras wrote it (3, 3, 15) with T last).
        hidden: width of the dense layer (128).
        dropout: 0.5 everywhere in the paper.

    Input: ``(N, 1, T, size, size)`` float, normalised gray faces. Output: ``(N, C)`` logits.

    Example:
        >>> m = MicroExpSTCNN(frames=18, size=64, num_classes=3)
        >>> m(torch.zeros(2, 1, 18, 64, 64)).shape
        torch.Size([2, 3])
    """

    def __init__(self, frames: int = 96, size: int = 64, num_classes: int = 3,
                 no_expression_class: bool = False, filters: int = 32, kernel_t: int = 15,
                 kernel_hw: int = 3, hidden: int = 128, dropout: float = 0.5):
        super().__init__()
        if frames < kernel_t:
            raise ValueError(f"frames must be >= the temporal kernel {kernel_t}, got {frames}")
        self.frames, self.size = frames, size
        self.num_outputs = num_classes + int(no_expression_class)
        self.conv = nn.Conv3d(1, filters, (kernel_t, kernel_hw, kernel_hw))
        self.pool = nn.MaxPool3d(3)
        self.drop = nn.Dropout(dropout)
        t, hw = (frames - kernel_t + 1) // 3, (size - kernel_hw + 1) // 3
        self.flat = filters * t * hw * hw
        if self.flat == 0:
            raise ValueError(f"input {frames}x{size}x{size} is too small for the network")
        self.fc = nn.Linear(self.flat, hidden)
        self.out = nn.Linear(hidden, self.num_outputs)
        keras_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop(self.pool(torch.relu(self.conv(x))))
        x = self.drop(torch.relu(self.fc(x.flatten(1))))
        return self.out(x)
