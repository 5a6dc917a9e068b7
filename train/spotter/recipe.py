"""The spotter training recipes (``configs/train/spotter/*.yaml``), typed.

A recipe is read like a pipeline YAML (:func:`pipeline.config.validate_yaml`): a
misspelt key, a wrong type or a value out of range fails before any data is read, as
``file:line: path: message``. The learned spotter's ``model:`` section is checked
against :class:`~train.models.time_contrast.TimeContrastStreamSpotter`'s own keywords.
Paths are relative to the repository root.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipeline.config import read_yaml
from pipeline.config.keywords import keywords_model
from pipeline.config.loader import validate_yaml

R = TypeVar("R", bound=BaseModel)


class _Recipe(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    seed: int = 0
    threads: int = Field(2, ge=1, le=256)
    steps: int = Field(1000, ge=1)
    batch: int = Field(32, ge=1)
    lr: float = Field(2e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)


class LearnedSpotterRecipe(_Recipe):
    """``train.spotter.fit``: one member of the learned spotter (SYNTHETIC scenes)."""

    model: dict[str, Any] = Field(default_factory=dict, description="keywords of "
                                  "TimeContrastStreamSpotter (train/models/time_contrast.py)")
    data: list[Path] = Field(min_length=1, description="folders of cached scenes")
    scenes: list[str] | None = Field(None, description="glob patterns within data")
    val: list[Path] | None = Field(None, description="validation scene folders")
    out: Path = Path("runs/spotter_learned")
    budget_minutes: float | None = Field(None, gt=0)
    eval_every: int = Field(50, ge=1)
    length: int = Field(150, ge=2, description="ticks per training sequence")
    warmup: int = Field(20, ge=0)
    pos_weight: float = Field(3.0, gt=0)
    macro_weight: float = Field(0.3, ge=0)
    focal_gamma: float = Field(0.0, ge=0)
    event_weights: dict[str, float] | None = None
    flip: bool = True
    feature_noise: float = Field(0.0, ge=0)

    @field_validator("model")
    @classmethod
    def _model_keywords(cls, model: dict[str, Any]) -> dict[str, Any]:
        from train.models.time_contrast import TimeContrastStreamSpotter

        checked = keywords_model(TimeContrastStreamSpotter.__init__, "TimeContrastModel")
        return checked.model_validate(model).model_dump(exclude_unset=True)


class DenseSpotterRecipe(_Recipe):
    """``train.spotter.dense``: the sliding-window STCNN spotter (SYNTHETIC scenes)."""

    window_ms: float = Field(gt=0, le=5000)
    frames: int = Field(ge=2)
    size: int = Field(ge=8)
    min_inside: float = Field(gt=0, le=1)
    class_mix: tuple[float, float, float] = Field(description="micro, macro, none")
    train_dirs: list[Path] = Field(min_length=1)
    train_glob: str = "*.npz"
    val_dirs: list[Path] = Field(min_length=1)
    val_glob: str = "*.npz"
    pool: int = Field(ge=1)
    refresh_every: int | None = Field(None, ge=1)
    filters: int = Field(32, ge=1)
    hidden: int = Field(128, ge=1)
    dropout: float = Field(0.5, ge=0, lt=1)
    stride_ms: float = Field(gt=0)
    gap_ms: float = Field(ge=0)
    thresholds: list[float] = Field(min_length=1)
    out: Path


def load_recipe(path: Path, kind: type[R]) -> R:
    """Read and check the recipe at ``path`` (ConfigError naming each mistake)."""
    data, root = read_yaml(path)
    return validate_yaml(kind, data, source=str(path), root=root)


def as_dict(recipe: BaseModel) -> dict[str, Any]:
    """The recipe as the training code and its checkpoints keep it (JSON types; keys
    left unset stay out, so the code's own defaults apply)."""
    return recipe.model_dump(mode="json", exclude_none=True)
