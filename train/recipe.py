"""The training recipe YAML (``mestream train RECIPE.yaml``): schema and loading.

Errors name the file, the line and the YAML path, like pipeline YAMLs (the loading
helpers of :mod:`pipeline.config` are reused)::

    error: configs/train/x.yaml:9: optimiser.lr: Input should be greater than 0, got -1

Relative paths (``data.root``, ``output.dir``, ``data.generate.faces``) are relative to
the YAML's folder. Example (configs/train/stcnn_synth.yaml)::

    model: {name: stcnn}
    data:
      dataset: casme2
      root: ../../data/synth/CASME2
      classes: [disgust, happiness, others, repression, surprise]
      generate: {layout: casme2, out: ../../data/synth, faces: [../../../shared/data/real]}
    preparation: {frames: 18, size: 64}
    protocol: {name: loso}
    optimiser: {name: sgd, lr: 0.01}
    batch_size: 8
    epochs: 15
    seeds: [0, 1]
    output: {dir: ../../runs/stcnn_synth}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline.config import read_yaml, validate_yaml

MODELS = ("stcnn", "fusenet_intermediate", "fusenet_late", "time_contrast")


class Node(BaseModel):
    """Unknown keys are errors (a typo must not silently fall back to a default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSpec(Node):
    """Architecture and its constructor arguments. ``frames``, ``size`` and
    ``num_classes`` are filled from ``preparation`` and ``data.classes`` unless given."""

    name: Literal["stcnn", "fusenet_intermediate", "fusenet_late", "time_contrast"]
    kwargs: dict[str, Any] = Field(default_factory=dict, description="passed to the model "
                                   "class: no_expression_class, faithful, hidden, ...")


class Generate(Node):
    """Make a synthetic dataset when ``data.root`` does not exist (``mestream synth
    dataset`` with these arguments), so a fresh machine needs two commands."""

    layout: Literal["casme2", "smic", "casme_sq", "samm", "samm_lv"] = "casme2"
    out: Path = Field(description="folder to write into (the dataset root is inside)")
    faces: list[Path] = Field(default_factory=list, description="base faces; empty = the "
                              "two bundled ones")
    clips_per_subject: int = Field(10, ge=1)
    seed: int = 0
    width: int = Field(320, ge=64)
    height: int = Field(240, ge=64)
    fps: float | None = Field(None, gt=0)


class Data(Node):
    """Which samples, with which class ids."""

    dataset: str | None = Field(None, description="a reader name: casme2, smic_hs, "
                                "casme_sq, samm, ...")
    root: Path | None = None
    composite: dict[Literal["casme2", "samm", "smic_hs"], Path] | None = Field(
        None, description="MEGC2019 composite: dataset -> root (protocol megc_composite)")
    classes: list[str] = Field(min_length=2, description="class names; the list index is "
                               "the class id")
    label_map: dict[str, str] = Field(default_factory=dict, description="dataset label "
                                      "(case-insensitive) -> class name; unmapped labels "
                                      "not in classes are left out")
    fps: float | None = Field(None, gt=0, description="override the dataset's frame rate")
    kind: Literal["micro", "macro", "any"] = "micro"
    label_from: Literal["annotation", "stimulus"] = Field(
        "annotation", description="stimulus: CAS(ME)^2's elicitation category from the "
        "video name (anger1_1 -> angry), as paper 1 labels it")
    generate: Generate | None = None

    @model_validator(mode="after")
    def _one_source(self) -> Data:
        if self.composite is None and (self.dataset is None or self.root is None):
            raise ValueError("give dataset and root, or composite")
        if self.composite is not None and self.dataset is not None:
            raise ValueError("give either dataset/root or composite, not both")
        if len(set(self.classes)) != len(self.classes):
            raise ValueError("classes repeat")
        unknown = sorted(set(self.label_map.values()) - set(self.classes))
        if unknown:
            raise ValueError(f"label_map targets {unknown} are not in classes")
        return self


class Preparation(Node):
    """Clip preparation (train/clips.py)."""

    mode: Literal["interpolate", "fixed_window"] = "interpolate"
    frames: int = Field(24, ge=2, le=512, description="T")
    size: int = Field(64, ge=16, le=512, description="aligned face side")
    region_size: int = Field(32, ge=8, le=256, description="eye / mouth crop side")
    window_start: int = Field(0, ge=0, description="fixed_window: first frame from onset")
    margin: int = Field(0, ge=0, description="frames around onset..offset")
    stabilise: Literal["hold", "one_euro"] = "hold"
    reference: Literal["none", "first"] = Field(
        "none", description="first: subtract each clip's first aligned frame before "
        "normalising (removes the identity, keeps the motion; NOT the seed's, which feeds "
        "raw gray faces)")
    backend: Literal["mediapipe", "retinaface"] = "mediapipe"
    cache_dir: Path | None = None


class Validation(Node):
    """Early stopping on subjects held out of the TRAINING subjects."""

    fraction: float = Field(0.2, gt=0, lt=1)
    patience: int = Field(5, ge=1)


class Protocol(Node):
    name: Literal["loso", "megc_composite", "split_80_20"] = "loso"
    split_seed: int = Field(4, description="split_80_20: the split's seed (the seed code "
                            "used random_state=4)")
    test_fraction: float = Field(0.2, gt=0, lt=1)
    validation: Validation | None = Field(None, description="null = fixed epochs, no "
                                          "selection (default)")


class Optimiser(Node):
    """Plain SGD lr 0.01, momentum 0 is the seed's Keras default."""

    name: Literal["sgd", "adam"] = "sgd"
    lr: float = Field(0.01, gt=0)
    momentum: float = Field(0.0, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)


class Output(Node):
    dir: Path
    tensorboard: bool = False


class Recipe(Node):
    """A training recipe (module docstring)."""

    model: ModelSpec
    data: Data
    preparation: Preparation = Preparation()
    protocol: Protocol = Protocol()
    optimiser: Optimiser = Optimiser()
    batch_size: int = Field(16, ge=1)
    epochs: int = Field(100, ge=1)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    device: Literal["cpu", "cuda", "auto"] = "auto"
    output: Output
    intensity_weight: float = Field(0.0, ge=0, description="must stay 0: no dataset "
                                    "reader gives intensity targets (real CASME II has "
                                    "none); the time-contrast net's intensity head is "
                                    "trained on planted intensities by train.recognition")

    @model_validator(mode="after")
    def _protocol_fits_data(self) -> Recipe:
        if self.intensity_weight:
            # Refused rather than ignored: a head the loss never saw must not look trained.
            raise ValueError("intensity_weight > 0 needs intensity targets, which no dataset "
                             "reader provides; train the time-contrast net's intensity head "
                             "with python -m train.recognition.fit --models time_contrast")
        if self.protocol.name == "megc_composite" and self.data.composite is None:
            raise ValueError("protocol megc_composite needs data.composite")
        kernel_t = int(self.model.kwargs.get("kernel_t", 15))
        if self.model.name != "time_contrast" and self.preparation.frames < kernel_t + 2:
            # valid Conv3d leaves T - kernel_t + 1 frames; MaxPool3d(3) needs 3 of them
            raise ValueError(f"{self.model.name} needs preparation.frames >= {kernel_t + 2} "
                             f"(temporal kernel {kernel_t}, then pooling by 3), got "
                             f"{self.preparation.frames}")
        return self


def _resolve(recipe: Recipe, base: Path) -> Recipe:
    def r(p: Path | None) -> Path | None:
        return p if p is None or p.is_absolute() else (base / p).resolve()

    data = recipe.data.model_copy(update={
        "root": r(recipe.data.root),
        "composite": ({k: r(v) for k, v in recipe.data.composite.items()}
                      if recipe.data.composite else None),
        "generate": (recipe.data.generate.model_copy(update={
            "out": r(recipe.data.generate.out),
            "faces": [r(f) for f in recipe.data.generate.faces]})
            if recipe.data.generate else None)})
    prep = recipe.preparation.model_copy(update={"cache_dir": r(recipe.preparation.cache_dir)})
    out = recipe.output.model_copy(update={"dir": r(recipe.output.dir)})
    return recipe.model_copy(update={"data": data, "preparation": prep, "output": out})


def parse_recipe(data: Any, *, source: str = "<recipe>", root: yaml.Node | None = None,
                 base_dir: Path | None = None) -> Recipe:
    """Validate raw YAML data; :class:`ConfigError` lists every problem with its path."""
    recipe = validate_yaml(Recipe, data, source=source, root=root)
    return _resolve(recipe, base_dir) if base_dir is not None else recipe


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Read, interpolate (``${env:VAR}``), override (``a.b=c``) and validate a recipe."""
    data, root = read_yaml(path, overrides)
    return parse_recipe(data, source=str(path), root=root,
                        base_dir=Path(path).parent.resolve())
