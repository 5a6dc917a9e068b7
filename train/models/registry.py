"""Model names as recipes and checkpoints write them, and what each model takes in.

Example:
    >>> spec = ARCHS["stcnn"]
    >>> [(i.name, i.shape(dict(frames=18, size=64))) for i in spec.inputs]
    [('face', (1, 18, 64, 64))]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from train.models.au_net import MicroExpAUNet
from train.models.fusenet import MicroExpFuseNetIntermediate, MicroExpFuseNetLate
from train.models.stcnn import MicroExpSTCNN
from train.models.time_contrast import TimeContrastedMemoryNet


@dataclass(frozen=True)
class ModelInput:
    """One input tensor, without its batch axis; ``shape`` reads the model kwargs."""

    name: str
    shape: Callable[[dict[str, Any]], tuple[int, ...]]


@dataclass(frozen=True)
class ArchSpec:
    cls: type[nn.Module]
    inputs: tuple[ModelInput, ...]
    outputs: tuple[str, ...]
    defaults: dict[str, Any]


def _clip(key: str, default: int) -> Callable[[dict[str, Any]], tuple[int, ...]]:
    return lambda kw: (1, kw.get("frames", 96), kw.get(key, default), kw.get(key, default))


ARCHS: dict[str, ArchSpec] = {
    "stcnn": ArchSpec(MicroExpSTCNN, (ModelInput("face", _clip("size", 64)),), ("logits",),
                      {"frames": 96, "size": 64}),
    "fusenet_intermediate": ArchSpec(
        MicroExpFuseNetIntermediate,
        (ModelInput("eyes", _clip("size", 32)), ModelInput("mouth", _clip("size", 32))),
        ("logits",), {"frames": 96, "size": 32}),
    "fusenet_late": ArchSpec(
        MicroExpFuseNetLate,
        (ModelInput("eyes", _clip("size", 32)), ModelInput("mouth", _clip("size", 32))),
        ("logits",), {"frames": 96, "size": 32}),
    "au_net": ArchSpec(MicroExpAUNet, (ModelInput("face", _clip("size", 64)),),
                       ("logits", "au_logits"), {"frames": 18, "size": 64}),
    "time_contrast": ArchSpec(
        TimeContrastedMemoryNet,
        (ModelInput("frames", lambda kw: (kw.get("frames", 32), kw.get("in_channels", 1),
                                          kw.get("size", 64), kw.get("size", 64))),),
        ("spot", "label", "intensity"), {"frames": 32, "size": 64}),
}


def build_model(arch: str, kwargs: dict[str, Any]) -> nn.Module:
    """The model ``arch`` with constructor ``kwargs`` (a recipe's or a checkpoint's)."""
    if arch not in ARCHS:
        raise ValueError(f"unknown model {arch!r}; expected one of {sorted(ARCHS)}")
    return ARCHS[arch].cls(**kwargs)


def input_shapes(arch: str, kwargs: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """Per input, its shape without the batch axis."""
    merged = {**ARCHS[arch].defaults, **kwargs}
    return {i.name: i.shape(merged) for i in ARCHS[arch].inputs}
