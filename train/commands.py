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
import sys
from pathlib import Path


def cmd_train(args: argparse.Namespace) -> int:
    from train.recipe import load_recipe

    overrides = list(args.set)
    if args.epochs is not None:
        overrides.append(f"epochs={args.epochs}")
    if args.device is not None:
        overrides.append(f"device={args.device}")
    if args.out is not None:
        overrides.append(f"output.dir={args.out}")
    recipe = load_recipe(args.recipe, overrides)   # ConfigError -> exit 2 in mestream.cli
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


def add_parser(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("train", help="train / evaluate a model from a recipe YAML "
                       "(needs the train extra: torch)")
    t.add_argument("recipe", help="e.g. configs/train/stcnn_synth.yaml")
    t.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                   help="override a recipe value, e.g. optimiser.lr=0.005")
    t.add_argument("--epochs", type=int, default=None, help="override epochs")
    t.add_argument("--device", choices=["cpu", "cuda", "auto"], default=None)
    t.add_argument("--out", default=None, help="override output.dir")
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
