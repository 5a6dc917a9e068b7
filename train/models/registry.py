"""The model table: each model name as recipes and checkpoints write it, its class, what
it takes in (tensor names and shapes, and the prepared streams of train/clips.py that feed
them), what it gives out, and its constructor arguments.

Example:
    >>> spec = ARCHITECTURES["stcnn"]
    >>> [(i.name, i.shape(dict(frames=18, size=64))) for i in spec.tensors]
    [('face', (1, 18, 64, 64))]
    >>> late = ARCHITECTURES["fusenet_late"]
    >>> late.inputs, late.kwargs(frames=18, size=64, region_size=32, num_classes=3)
    (('eyes', 'mouth'), {'frames': 18, 'size': 32, 'num_classes': 3})
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

STCNN, FUSE_INTERMEDIATE, FUSE_LATE, AU_NET, TIME_CONTRAST = (
    "stcnn", "fusenet_intermediate", "fusenet_late", "au_net", "time_contrast")


@dataclass(frozen=True)
class ModelInput:
    """One input tensor: its name (the model's and the ONNX graph's), the prepared stream
    that feeds it, and its shape without the batch axis (read from the model kwargs)."""

    name: str
    stream: str
    shape: Callable[[dict[str, Any]], tuple[int, ...]]


@dataclass(frozen=True)
class Architecture:
    """How one model name is built, fed and read."""

    name: str
    cls: type[nn.Module]
    tensors: tuple[ModelInput, ...]  # in forward() order
    outputs: tuple[str, ...]
    defaults: dict[str, Any]
    region_input: bool = False       # fed the 32x32 eye/mouth crops (size = region_size)
    time_major: bool = False         # (N, T, 1, H, W) instead of (N, 1, T, H, W)

    @property
    def class_name(self) -> str:
        return self.cls.__name__

    @property
    def inputs(self) -> tuple[str, ...]:
        """The prepared streams (train/clips.py) that feed it, in forward() order."""
        return tuple(t.stream for t in self.tensors)

    @property
    def input_names(self) -> tuple[str, ...]:
        """The same inputs as the model and its ONNX graph name them."""
        return tuple(t.name for t in self.tensors)

    def kwargs(self, frames: int, size: int, region_size: int, num_classes: int,
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Constructor arguments: the preparation's shapes, then the recipe's own."""
        out: dict[str, Any] = {"frames": frames, "size": region_size if self.region_input
                               else size, "num_classes": num_classes}
        out.update(extra or {})
        return out

    def build(self, kwargs: dict[str, Any]) -> nn.Module:
        return self.cls(**kwargs)


def _clip(key: str, default: int) -> Callable[[dict[str, Any]], tuple[int, ...]]:
    return lambda kw: (1, kw.get("frames", 96), kw.get(key, default), kw.get(key, default))


def _regions() -> tuple[ModelInput, ...]:
    return (ModelInput("eyes", "eyes", _clip("size", 32)),
            ModelInput("mouth", "mouth", _clip("size", 32)))


ARCHITECTURES: dict[str, Architecture] = {
    STCNN: Architecture(STCNN, MicroExpSTCNN, (ModelInput("face", "face", _clip("size", 64)),),
                        ("logits",), {"frames": 96, "size": 64}),
    FUSE_INTERMEDIATE: Architecture(FUSE_INTERMEDIATE, MicroExpFuseNetIntermediate,
                                    _regions(), ("logits",), {"frames": 96, "size": 32},
                                    region_input=True),
    FUSE_LATE: Architecture(FUSE_LATE, MicroExpFuseNetLate, _regions(), ("logits",),
                            {"frames": 96, "size": 32}, region_input=True),
    AU_NET: Architecture(AU_NET, MicroExpAUNet, (ModelInput("face", "face", _clip("size", 64)),),
                         ("logits", "au_logits"), {"frames": 18, "size": 64}),
    TIME_CONTRAST: Architecture(
        TIME_CONTRAST, TimeContrastedMemoryNet,
        (ModelInput("frames", "face",
                    lambda kw: (kw.get("frames", 32), kw.get("in_channels", 1),
                                kw.get("size", 64), kw.get("size", 64))),),
        ("spot", "label", "intensity"), {"frames": 32, "size": 64}, time_major=True),
}


def build_model(arch: str, kwargs: dict[str, Any]) -> nn.Module:
    """The model ``arch`` with constructor ``kwargs`` (a recipe's or a checkpoint's)."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown model {arch!r}; expected one of {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[arch].build(kwargs)


def input_shapes(arch: str, kwargs: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """Per input, its shape without the batch axis."""
    spec = ARCHITECTURES[arch]
    merged = {**spec.defaults, **kwargs}
    return {i.name: i.shape(merged) for i in spec.tensors}
