"""The seed code's initialisation (Keras 2.0 defaults), so a faithful re-implementation
starts where the original did: Conv3D glorot-uniform weights and zero bias; Dense
``init='normal'``, i.e. N(0, 0.05), and zero bias."""

from __future__ import annotations

from torch import nn


def keras_init(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv3d):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.05)
            nn.init.zeros_(m.bias)
