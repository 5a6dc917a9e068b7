"""``mestream train RECIPE.yaml``: train and evaluate a model from a recipe.

    mestream train configs/train/stcnn_synth.yaml                  # LOSO, results.md
    mestream train configs/train/stcnn_synth.yaml --epochs 2 --set seeds=[0]
    mestream train configs/train/stcnn_casme_sq.yaml --device cuda

This module is imported by ``mestream``'s parser, so it must not import torch (the
runtime never does, tests/test_layers.py): torch is imported inside :func:`cmd_train`.
A re-run with the same output folder resumes: folds whose checkpoint and predictions
exist are not trained again.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

SPOTTER_STEPS = {
    "data": "production-aligned spotter scenes (train / val / test sets)",
    "canonical": "scenes rendered straight into the aligned face; meshes the base faces",
    "fit": "train a learned spotter member from a recipe (configs/train/spotter/)",
    "ensemble": "average members into one ONNX step",
    "corner": "the lip-corner detector, fused with the members",
    "select": "post-processing chosen on validation scenes",
    "bundle": "write the served ONNX with its post-processing metadata",
    "dense": "the dense (sliding-window STCNN) spotter",
    "evaluate": "score a spotter on cached scenes",
}
"""``mestream train spotter STEP ...``: the learned spotter's steps, in the order they run
(each is also ``python -m train.spotter.STEP``; pipeline/weights/README.md)."""


def run_spotter_step(argv: list[str]) -> int:
    """``mestream train spotter STEP [options]`` -> that step's own command line."""
    import importlib

    if not argv or argv[0] not in SPOTTER_STEPS:
        steps = "\n".join(f"  {k:<10} {v}" for k, v in SPOTTER_STEPS.items())
        print(f"usage: mestream train spotter STEP [options]; STEP is one of:\n{steps}",
              file=sys.stderr)
        return 2
    # Within the train layer, the step modules by name (one table instead of nine parsers).
    module = importlib.import_module(f"train.spotter.{argv[0]}")
    return int(module.main(argv[1:]) or 0)


def writes_under(recipe: Any, out: Path) -> Any:
    """With ``--out``, nothing is written outside it: a dataset the recipe would generate
    (it does not exist yet) is generated under ``OUT/data`` instead of the recipe's folder
    (before: 343 MB in the repository's data/), and the aligned-clip cache goes to
    ``OUT/cache`` unless the recipe or $MESTREAM_CACHE names one."""
    data, prep = recipe.data, recipe.preparation
    gen = data.generate
    if gen is not None and data.root is not None and not data.root.exists():
        try:
            inside = data.root.resolve().relative_to(gen.out.resolve())
        except ValueError:
            inside = Path(data.root.name)
        new_out = out.resolve() / "data"
        data = data.model_copy(update={"root": new_out / inside,
                                       "generate": gen.model_copy(update={"out": new_out})})
    if prep.cache_dir is None and not os.environ.get("MESTREAM_CACHE"):
        prep = prep.model_copy(update={"cache_dir": out.resolve() / "cache"})
    return recipe.model_copy(update={"data": data, "preparation": prep})


def cmd_train(args: argparse.Namespace) -> int:
    from train.recipe import load_recipe

    if args.recipe == "spotter":
        return run_spotter_step(args.spotter_args)
    args = _options_after_the_recipe(args)

    overrides = list(args.set)
    if args.epochs is not None:
        overrides.append(f"epochs={args.epochs}")
    if args.device is not None:
        overrides.append(f"device={args.device}")
    if args.out is not None:
        overrides.append(f"output.dir={args.out}")
    recipe = load_recipe(args.recipe, overrides)   # ConfigError -> exit 2 in mestream.cli
    if args.out is not None:
        recipe = writes_under(recipe, Path(args.out))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from train.loop import run  # imports torch

    results = run(recipe, name=args.recipe)
    s = results["summary"]
    print(json.dumps({"output": str(recipe.output.dir), "trained_on": results["trained_on"],
                      "samples": results["samples"], "subjects": results["subjects"],
                      "folds": results["folds"], "wall_s": results["wall_s"],
                      **{m: f"{s[m]['mean']:.4f} ± {s[m]['std']:.4f}"
                         for m in ("accuracy", "uf1", "uar")}}, ensure_ascii=False))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from train.export import export_onnx

    if not Path(args.checkpoint).is_file():
        print(f"mestream export: {args.checkpoint}: no such checkpoint (a .pt that "
              "`mestream train` or `python -m train.recognition.fit --final` wrote; "
              "train one first)", file=sys.stderr)
        return 2
    meta = export_onnx(args.checkpoint, args.out, precision=args.precision, opset=args.opset)
    if args.pt2:
        from train.export import export_torch_program

        program = Path(args.out).with_suffix(".pt2")
        export_torch_program(args.checkpoint, program)
        print(f"{program}: torch.export program for the torch engine")
    print(f"{args.out}: {meta['mestream.arch']} {meta['mestream.precision']}, inputs "
          f"{meta['mestream.inputs']}, labels {meta['mestream.labels']}, trained on "
          f"{meta['mestream.trained_on']}")
    return 0


def _recipe_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                   help="override a recipe value, e.g. optimiser.lr=0.005")
    p.add_argument("--epochs", type=int, default=None, help="override epochs")
    p.add_argument("--device", choices=["cpu", "cuda", "auto"], default=None)
    p.add_argument("--out", default=None, help="override output.dir")


def _options_after_the_recipe(args: argparse.Namespace) -> argparse.Namespace:
    """``mestream train RECIPE --epochs 3``: the options written after the recipe, which
    the REMAINDER argument collected, parsed as the recipe's options."""
    p = argparse.ArgumentParser(prog=f"mestream train {args.recipe}")
    _recipe_options(p)
    later = p.parse_args(args.spotter_args)
    for key in ("epochs", "device", "out"):
        if getattr(later, key) is not None:
            setattr(args, key, getattr(later, key))
    args.set = [*args.set, *later.set]
    return args


def add_parser(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("train", help="train / evaluate a model from a recipe YAML "
                       "(needs the train extra: torch)")
    t.add_argument("recipe", help="e.g. configs/train/stcnn_synth.yaml, or `spotter STEP "
                   "...` for the learned spotter's steps (`mestream train spotter` lists "
                   "them)")
    # After the recipe, the rest is a spotter step's own command line (`spotter STEP
    # ...`) or, for a recipe, its options again (argparse.REMAINDER takes both).
    t.add_argument("spotter_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    _recipe_options(t)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("export", help="export a training checkpoint to ONNX (FP32 or an "
                       "FP16 graph), with labels, shapes and provenance in its metadata")
    e.add_argument("checkpoint")
    e.add_argument("--out", required=True)
    e.add_argument("--precision", choices=["fp32", "fp16"], default="fp32")
    e.add_argument("--opset", type=int, default=17)
    e.add_argument("--pt2", action="store_true", help="also write a torch.export program "
                   "(.pt2) beside it for the torch engine")
    e.set_defaults(func=cmd_export)
