"""Recipe model names -> which prepared streams feed them, in which layout, and their
constructor arguments (the classes themselves: :mod:`train.models.registry`).

Example:
    >>> spec = ARCHITECTURES["fusenet_late"]
    >>> spec.inputs, spec.kwargs(frames=18, size=64, region_size=32, num_classes=3)
    (('eyes', 'mouth'), {'frames': 18, 'size': 32, 'num_classes': 3})
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STCNN, FUSE_INTERMEDIATE, FUSE_LATE, TIME_CONTRAST = (
    "stcnn", "fusenet_intermediate", "fusenet_late", "time_contrast")


@dataclass(frozen=True)
class Architecture:
    """How one recipe model name is built and fed."""

    name: str
    class_name: str              # in train.models
    inputs: tuple[str, ...]      # prepared streams (train/clips.py), in forward() order
    input_names: tuple[str, ...]  # the same inputs as train.models.registry / ONNX name them
    region_input: bool           # fed the 32x32 eye/mouth crops (size = region_size)
    time_major: bool             # (N, T, 1, H, W) instead of (N, 1, T, H, W)

    def kwargs(self, frames: int, size: int, region_size: int, num_classes: int,
               extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Constructor arguments: the preparation's shapes, then the recipe's own."""
        out: dict[str, Any] = {"frames": frames, "size": region_size if self.region_input
                               else size, "num_classes": num_classes}
        out.update(extra or {})
        return out

    def build(self, kwargs: dict[str, Any]):
        from train.models.registry import build_model

        return build_model(self.name, kwargs)


ARCHITECTURES: dict[str, Architecture] = {
    STCNN: Architecture(STCNN, "MicroExpSTCNN", ("face",), ("face",), False, False),
    FUSE_INTERMEDIATE: Architecture(FUSE_INTERMEDIATE, "MicroExpFuseNetIntermediate",
                                    ("eyes", "mouth"), ("eyes", "mouth"), True, False),
    FUSE_LATE: Architecture(FUSE_LATE, "MicroExpFuseNetLate", ("eyes", "mouth"),
                            ("eyes", "mouth"), True, False),
    TIME_CONTRAST: Architecture(TIME_CONTRAST, "TimeContrastedMemoryNet", ("face",),
                                ("frames",), False, True),
}
