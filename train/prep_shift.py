"""Score a finished run's fold models on clips prepared differently from their training:
what a change of serving alignment (``preparation.stabilise``, ``size``, ...) costs a
model, measured on the same leave-one-subject-out folds, without retraining.

The run's recipe gives the dataset, the folds and the fold checkpoints
(``<output.dir>/folds/<fold>_seed<s>.pt``); the ``--set`` overrides change only how the
clips are prepared for testing. Predictions are pooled per seed as ``mestream train``
pools them, so the figures compare with the run's own ``results.md``.

Run::

    .venv/bin/python -m train.prep_shift configs/train/stcnn_synth.yaml \\
        --set preparation.stabilise=one_euro
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from train.checkpoint import build_from_checkpoint, load_checkpoint
from train.clipset import ClipSet
from train.loop import Job, evaluate_clips, make_folds, pick_device
from train.models.registry import ARCHITECTURES
from train.normalise import Normalisation
from train.recipe import load_recipe
from train.results import summarise
from train.samples import load_samples


def shifted_results(recipe_path: Path, overrides: list[str]) -> dict[str, Any]:
    """The run of ``recipe_path`` re-scored on clips prepared with ``overrides``."""
    trained = load_recipe(recipe_path)
    shifted = load_recipe(recipe_path, [o for o in overrides
                                        if o.startswith("preparation.")])
    if len(overrides) != sum(o.startswith("preparation.") for o in overrides):
        raise ValueError("only preparation.* can be shifted (the folds and models stay)")
    samples, ids, report = load_samples(trained.data)
    arch = ARCHITECTURES[trained.model.name]
    clips = ClipSet.prepare(samples, ids, shifted.preparation)
    folds = make_folds(trained, samples, ids)
    predictions: dict[int, list[dict[str, Any]]] = {s: [] for s in trained.seeds}
    for seed in trained.seeds:
        for fold in folds:
            path = trained.output.dir / "folds" / f"{fold.name}_seed{seed}.pt"
            if not path.exists():
                raise FileNotFoundError(f"{path}: run `mestream train {recipe_path}` first")
            ckpt = load_checkpoint(path)
            model = build_from_checkpoint(ckpt)
            norms = {stream: Normalisation.from_dict(ckpt["normalisation"][name])
                     for name, stream in zip(arch.input_names, arch.inputs, strict=True)}
            job = Job(trained, arch, ckpt["kwargs"], clips, pick_device("cpu"))
            _, probs = evaluate_clips(job, model, fold.test, norms)
            predictions[seed] += [
                {"true": int(ids[i]), "pred": int(np.argmax(p)), "dataset": samples[i].dataset}
                for i, p in zip(fold.test, probs, strict=True)]
    return summarise(predictions, trained.data.classes, trained.protocol.name,
                     report.trained_on, {"prepared_with": overrides})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recipe", type=Path)
    ap.add_argument("--set", action="append", default=[], metavar="preparation.KEY=VALUE")
    a = ap.parse_args(argv)
    r = shifted_results(a.recipe, a.set)
    s = r["summary"]
    print(f"{a.recipe} fold models on clips prepared with {a.set or 'the recipe'}: "
          f"accuracy {s['accuracy']['mean']:.3f}, UF1 {s['uf1']['mean']:.3f} "
          f"+- {s['uf1']['std']:.3f}, UAR {s['uar']['mean']:.3f} "
          f"(chance {r['chance_uar']:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
