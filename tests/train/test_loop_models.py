"""The training loop drives every kind of model: fusion (two region inputs) and the
time-contrast network (per-frame spotting targets), with the 80/20 protocol and early
stopping on training subjects, in-process on the tiny synthetic dataset."""

from __future__ import annotations

import json

import pytest

from tests.train.synth_data import CLASSES, tiny_casme2
from train.recipe import parse_recipe

CASES = {
    "fusenet_late": ({"hidden": [16, 8]}, {"frames": 18, "region_size": 32}),
    "time_contrast": ({"widths": [4, 8], "hidden": 8, "pool": "mean"},
                      {"frames": 8, "size": 32, "margin": 3}),
}


@pytest.mark.parametrize("arch", sorted(CASES))
def test_loop_trains_and_predicts(arch, tmp_path_factory) -> None:
    from train.checkpoint import build_from_checkpoint, load_checkpoint
    from train.loop import run

    root = tiny_casme2(tmp_path_factory)
    tmp = tmp_path_factory.mktemp(arch)
    kwargs, prep = CASES[arch]
    recipe = parse_recipe({
        "model": {"name": arch, "kwargs": kwargs},
        "data": {"dataset": "casme2", "root": str(root), "classes": CLASSES},
        "preparation": {**prep, "cache_dir": str(tmp / "cache")},
        "protocol": {"name": "split_80_20", "split_seed": 0,
                     "validation": {"fraction": 0.5, "patience": 1}},
        "optimiser": {"name": "adam", "lr": 0.001},
        "batch_size": 2, "epochs": 2, "seeds": [0], "device": "cpu",
        "output": {"dir": str(tmp / "out")}})
    results = run(recipe)
    assert results["folds"] == 1 and results["seeds"]["0"]["n"] >= 1
    assert json.loads((tmp / "out" / "results.json").read_text())["model"] == arch
    ckpt = load_checkpoint(tmp / "out" / "final.pt")
    names = ["frames"] if arch == "time_contrast" else ["eyes", "mouth"]
    assert list(ckpt["inputs"]) == names and list(ckpt["normalisation"]) == names
    assert build_from_checkpoint(ckpt) is not None
