"""``mestream train`` end to end on a tiny synthetic dataset (2 subjects, 4 clips, one
epoch): LOSO folds, pooled metrics, checkpoints in the documented format, resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from tests.conftest import REPO
from tests.train.synth_data import CLASSES, tiny_casme2
from train.torch_files import load_torch_file


def mestream_train(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mestream.cli", "train", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    root = tiny_casme2(tmp_path_factory)
    tmp = tmp_path_factory.mktemp("train")
    path = tmp / "tiny.yaml"
    path.write_text(yaml.safe_dump({
        "model": {"name": "stcnn", "kwargs": {"hidden": 16}},
        "data": {"dataset": "casme2", "root": str(root), "classes": CLASSES},
        "preparation": {"frames": 18, "size": 64, "cache_dir": str(tmp / "cache")},
        "protocol": {"name": "loso"},
        "batch_size": 2, "epochs": 1, "seeds": [0, 1], "device": "cpu",
        "output": {"dir": str(tmp / "out")}}))
    return path, tmp / "out"


def test_train_writes_results_checkpoints_and_resumes(recipe) -> None:

    path, out = recipe
    first = mestream_train(str(path))
    assert first.returncode == 0, first.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    assert results["folds"] == 2 and results["subjects"] == 2 and results["samples"] == 4
    assert "synthetic" in results["trained_on"]
    for key in ("accuracy", "uf1", "uar"):
        assert set(results["summary"][key]) == {"mean", "std"}
        assert 0.0 <= results["summary"][key]["mean"] <= 1.0
    assert set(results["seeds"]) == {"0", "1"}
    assert results["seeds"]["0"]["n"] == 4                  # every clip predicted once
    assert "casme2" in results["summary"]["per_dataset"]
    assert (out / "results.md").exists() and (out / "confusion.png").exists()
    ckpts = sorted((out / "folds").glob("*.pt"))
    assert [p.name for p in ckpts] == ["sub01_seed0.pt", "sub01_seed1.pt", "sub02_seed0.pt",
                                       "sub02_seed1.pt"]
    ckpt = load_torch_file(ckpts[0])
    assert {"format", "arch", "kwargs", "state_dict", "labels", "normalisation",
            "preparation", "recipe", "trained_on", "inputs", "fold", "seed"} <= set(ckpt)
    assert ckpt["arch"] == "stcnn" and ckpt["labels"] == CLASSES
    assert ckpt["kwargs"] == {"frames": 18, "size": 64, "num_classes": 5, "hidden": 16}
    assert set(ckpt["normalisation"]["face"]) == {"mean", "max"}
    assert ckpt["test_subjects"] == ["sub01"] and "sub01" not in ckpt["train_subjects"]
    final = load_torch_file(out / "final.pt")
    assert final["fold"] == "all" and final["train_subjects"] == ["sub01", "sub02"]
    lines = (out / "epochs.csv").read_text().splitlines()
    assert lines[0].startswith("fold,seed,epoch") and len(lines) == 1 + 4 + 1

    stamps = {p: p.stat().st_mtime_ns for p in ckpts}
    second = mestream_train(str(path))
    assert second.returncode == 0, second.stderr[-3000:]
    again = json.loads((out / "results.json").read_text())
    assert again["resumed_folds"] == 4
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())
    assert again["seeds"] == results["seeds"]


def test_bad_recipe_exits_2(tmp_path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("model: {name: stcnn}\n")
    run = mestream_train(str(path))
    assert run.returncode == 2 and f"{path}" in run.stderr and "data" in run.stderr


def test_one_verb_runs_the_learned_spotters_steps() -> None:
    """`mestream train spotter STEP ...` is `python -m train.spotter.STEP ...`; without a
    known step it lists them (issue 20: eleven entry points, each its own parser)."""
    listed = mestream_train("spotter")
    assert listed.returncode == 2
    for step in ("data", "canonical", "fit", "ensemble", "corner", "select", "bundle",
                 "evaluate"):
        assert f"  {step}" in listed.stderr
    helped = mestream_train("spotter", "bundle", "--threshold", "2", "--help")
    assert helped.returncode == 0 and "--gap-ms" in helped.stdout


def test_exporting_a_checkpoint_that_is_not_there_says_so_in_one_line(tmp_path) -> None:
    """Issue 22: `mestream export runs/stcnn_synth/final.pt` (a README line, before any
    training) printed a FileNotFoundError traceback."""
    import subprocess

    from tests.conftest import REPO, mestream

    run = subprocess.run(mestream("export", str(tmp_path / "final.pt"), "--out",
                                  str(tmp_path / "m.onnx")),
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert f"{tmp_path / 'final.pt'}: no such checkpoint" in run.stderr


def test_prep_shift_rescores_the_run_and_changes_only_the_preparation(recipe) -> None:
    """train.prep_shift: with no shift it reproduces the run's own pooled figures (same
    folds, same checkpoints); a shift outside preparation.* is refused."""
    from train.prep_shift import shifted_results

    path, out = recipe
    if not (out / "results.json").exists():
        assert mestream_train(str(path)).returncode == 0
    results = json.loads((out / "results.json").read_text())
    same = shifted_results(path, [])
    for seed, got in same["seeds"].items():
        assert got["confusion"] == results["seeds"][seed]["confusion"]
    shifted = shifted_results(path, ["preparation.stabilise=one_euro"])
    assert shifted["prepared_with"] == ["preparation.stabilise=one_euro"]
    assert sum(map(sum, shifted["seeds"]["0"]["confusion"])) == 4
    with pytest.raises(ValueError, match="only preparation"):
        shifted_results(path, ["epochs=3"])


def test_recipe_options_may_follow_the_recipe() -> None:
    from mestream.cli import build_parser
    from train.commands import _options_after_the_recipe

    args = _options_after_the_recipe(build_parser().parse_args(
        ["train", "--set", "a=1", "r.yaml", "--epochs", "3", "--set", "b=2"]))
    assert (args.recipe, args.epochs, args.set) == ("r.yaml", 3, ["a=1", "b=2"])


def test_with_out_a_generated_dataset_and_the_clip_cache_go_under_it(tmp_path,
                                                                      monkeypatch) -> None:
    """Before: `mestream train configs/train/stcnn_synth.yaml --out X` generated 343 MB
    into the repository's data/. A dataset that exists is read where it is."""
    from train.commands import writes_under
    from train.recipe import load_recipe

    monkeypatch.delenv("MESTREAM_CACHE", raising=False)
    recipe = load_recipe(REPO / "configs/train/stcnn_synth.yaml",
                         [f"data.root={tmp_path / 'nowhere' / 'CASME2'}",
                          f"data.generate.out={tmp_path / 'nowhere'}"])
    moved = writes_under(recipe, tmp_path / "run")
    assert moved.data.root == (tmp_path / "run" / "data" / "CASME2").resolve()
    assert moved.data.generate.out == (tmp_path / "run" / "data").resolve()
    assert moved.preparation.cache_dir == (tmp_path / "run" / "cache").resolve()
    (tmp_path / "there" / "CASME2").mkdir(parents=True)
    existing = load_recipe(REPO / "configs/train/stcnn_synth.yaml",
                           [f"data.root={tmp_path / 'there' / 'CASME2'}"])
    assert writes_under(existing, tmp_path / "run").data.root == existing.data.root
