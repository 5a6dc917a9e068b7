"""The classifier graphs ``mestream bench`` times, exported from random weights.

Speed does not depend on the weights, so the benchmark needs no trained checkpoint for
STCNN at T = 96 or FuseNet: this module builds each model with its paper initialisation
(seeded), exports the plain ONNX graph (opset 17, dynamic batch, FP32, the same path as
``mestream export``) and caches it. ``bench.classifier`` imports this module only when
it exports (it imports torch), so ``mestream bench`` runs without torch; there it uses
the cached files when they exist.

Every file says what it is in its metadata: ``mestream.trained_on`` is
``"untrained (random weights, seed 0): for speed only"``.

Example:
    >>> import tempfile
    >>> paths = export_bench_models(tempfile.mkdtemp(), ["stcnn_t18"])
    >>> paths["stcnn_t18"].name
    'stcnn_t18.onnx'
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

# name -> (arch, kwargs); the shapes of the paper's two datasets (CAS(ME)^2: T = 96,
# SMIC: T = 18). FuseNet at T = 96 has a 172,800 x 1,024 dense layer (0.7 GB of FP32
# weights), so only T = 18 is exported by default.
BENCH_MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "stcnn_t18": ("stcnn", {"frames": 18, "size": 64, "num_classes": 3}),
    "stcnn_t96": ("stcnn", {"frames": 96, "size": 64, "num_classes": 3}),
    "fusenet_intermediate_t18": ("fusenet_intermediate",
                                 {"frames": 18, "size": 32, "num_classes": 3}),
    "fusenet_late_t18": ("fusenet_late", {"frames": 18, "size": 32, "num_classes": 3}),
}
TRAINED_ON = "untrained (random weights, seed 0): for speed only"


def export_bench_model(name: str, out: Path) -> Path:
    """Export the random-weight model ``name`` of :data:`BENCH_MODELS` to ``out``."""
    import onnx
    import torch

    from train.export import OPSET, metadata_of, onnx_bytes
    from train.models.registry import build_model

    if name not in BENCH_MODELS:
        raise ValueError(f"unknown benchmark model {name!r}; expected one of "
                         f"{sorted(BENCH_MODELS)}")
    arch, kwargs = BENCH_MODELS[name]
    torch.manual_seed(0)
    model = build_model(arch, kwargs).eval()
    proto = onnx.load_from_string(onnx_bytes(model, arch, kwargs, "fp32", OPSET))
    meta = metadata_of({"arch": arch, "kwargs": kwargs, "labels": ["a", "b", "c"],
                        "trained_on": TRAINED_ON}, "fp32", OPSET)
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "mestream"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    onnx.save(proto, str(tmp))
    tmp.replace(out)   # a crash mid-write never leaves a truncated cached graph
    return out


def export_bench_program(name: str, out: Path) -> Path:
    """The same random-weight model as a torch.export program (``.pt2``) for the torch
    engine (CPU rows, and the GPU benchmark's FP32/FP16 comparison)."""
    import torch

    from engines.torch_program import export_program
    from train.export import OPSET, example_inputs, metadata_of
    from train.models.registry import ARCHITECTURES, build_model

    arch, kwargs = BENCH_MODELS[name]
    torch.manual_seed(0)
    model = build_model(arch, kwargs).eval()
    meta = metadata_of({"arch": arch, "kwargs": kwargs, "labels": ["a", "b", "c"],
                        "trained_on": TRAINED_ON}, "fp32", OPSET)
    inputs = example_inputs(arch, kwargs, batch=2)
    tmp = out.with_suffix(".tmp.pt2")
    export_program(model, tuple(inputs.values()), tmp, input_names=list(inputs),
                   output_names=list(ARCHITECTURES[arch].outputs), metadata=meta)
    tmp.replace(out)
    return out


def export_bench_models(out_dir: str | Path, names: Iterable[str] | None = None,
                        suffix: str = ".onnx") -> dict[str, Path]:
    """``out_dir/NAME.onnx`` (or ``.pt2`` with ``suffix=".pt2"``) for each name (all by
    default), exporting only those missing."""
    if suffix not in (".onnx", ".pt2"):
        raise ValueError(f"suffix must be .onnx or .pt2, got {suffix!r}")
    export = export_bench_model if suffix == ".onnx" else export_bench_program
    out_dir = Path(out_dir)
    paths = {}
    for name in names if names is not None else BENCH_MODELS:
        path = out_dir / f"{name}{suffix}"
        paths[name] = path if path.is_file() else export(name, path)
    return paths


SYNTH_RECIPE = Path(__file__).resolve().parents[1] / "configs" / "train" / "stcnn_synth.yaml"


def labelled_synthetic_clips(model: str | Path, recipe: str | Path = SYNTH_RECIPE
                             ) -> tuple[np.ndarray, np.ndarray] | None:
    """The model inputs and labels of every clip of the recipe's SYNTHETIC dataset,
    prepared as the bundled model's metadata says (``mestream.normalisation``), for
    comparing an INT8 graph's accuracy with FP32's on labelled clips. ``None`` when the
    dataset is not on disk (this never generates it: ``mestream synth dataset ...``).
    The bundled model was trained on all these clips, so the accuracy is on its own
    training set: good for FP32-vs-INT8 differences, not for generalisation."""
    import json

    import onnx

    from train.clipset import ClipSet
    from train.models.registry import ARCHITECTURES
    from train.normalise import Normalisation
    from train.recipe import load_recipe
    from train.samples import load_samples

    r = load_recipe(recipe)
    if r.data.root is None or not r.data.root.exists():
        return None
    meta = {p.key: p.value for p in onnx.load(str(model), load_external_data=False)
            .metadata_props}
    norms = {k: Normalisation.from_dict(v)
             for k, v in json.loads(meta["mestream.normalisation"]).items()}
    samples, ids, _ = load_samples(r.data)
    clips = ClipSet.prepare(samples, ids, r.preparation)
    (x,) = clips.inputs(range(len(samples)), norms, ARCHITECTURES[meta["mestream.arch"]])
    return x, clips.labels
