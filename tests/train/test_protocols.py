"""Protocols never mix a subject into train and test, the 80/20 split is stratified and
seeded, and normalisation statistics come from the training fold only."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from train.clipset import ClipSet
from train.datasets.sample import Sample
from train.models.registry import ARCHITECTURES
from train.protocols import inner_validation, loso_folds, split_80_20, subjects


def sample(dataset: str, subject: str, n: int) -> Sample:
    return Sample(dataset=dataset, subject=subject, clip=f"{subject}_{n}", video="v",
                  frames=(Path("img1.jpg"), Path("img2.jpg")), onset=0, apex=None, offset=1,
                  label="x", aus="", kind="micro", fps=100.0, first_frame_number=1)


def test_loso_one_fold_per_subject_disjoint() -> None:
    xs = [sample("casme2", f"sub{i % 5:02d}", i) for i in range(23)]
    keys = subjects(xs)
    folds = loso_folds(xs)
    assert len(folds) == 5
    for f in folds:
        assert {keys[i] for i in f.test} == {f.name}
        assert f.name not in {keys[i] for i in f.train}
        assert sorted(f.train + f.test) == list(range(23))


def test_composite_subjects_keep_datasets_apart() -> None:
    # "s1" of SMIC and "s1" of another dataset are different people.
    xs = [sample("smic_hs", "s1", 0), sample("samm", "s1", 1), sample("casme2",
                                                                         "casme2_sub01", 2)]
    assert subjects(xs) == ["smic_hs_s1", "samm_s1", "casme2_sub01"]
    assert len(loso_folds(xs)) == 3


def test_split_80_20_stratified_and_seeded() -> None:
    labels = [0] * 50 + [1] * 30 + [2] * 20
    a, b, c = split_80_20(labels, 4), split_80_20(labels, 4), split_80_20(labels, 5)
    assert a == b and a.test != c.test
    assert Counter(labels[i] for i in a.test) == {0: 10, 1: 6, 2: 4}
    assert set(a.train).isdisjoint(a.test) and len(a.train) + len(a.test) == 100


def test_inner_validation_only_from_training_subjects() -> None:
    xs = [sample("casme2", f"sub{i % 6:02d}", i) for i in range(30)]
    keys = subjects(xs)
    fold = loso_folds(xs)[0]
    fit, val = inner_validation(fold.train, xs, 0.2, seed=1)
    assert set(fit) | set(val) == set(fold.train) and not set(val) & set(fold.test)
    assert {keys[i] for i in fit}.isdisjoint({keys[i] for i in val})


def test_normalisation_ignores_the_test_fold() -> None:
    rng = np.random.default_rng(0)
    n, t = 6, 4
    clips = ClipSet(face=rng.integers(0, 255, (n, t, 8, 8), dtype=np.uint8),
                    eyes=rng.integers(0, 255, (n, t, 4, 4), dtype=np.uint8),
                    mouth=rng.integers(0, 255, (n, t, 4, 4), dtype=np.uint8),
                    labels=np.zeros(n, np.int64), spot=np.zeros((n, t), np.float32),
                    missing=0, from_cache=0)
    train, test = [0, 1, 2, 3], [4, 5]
    before = clips.fit_normalisation(train, ("face", "eyes"))
    clips.face[test] = 255          # the held-out clips change completely ...
    clips.eyes[test] = 0
    after = clips.fit_normalisation(train, ("face", "eyes"))
    assert before == after          # ... and the statistics do not
    expected = clips.face[train].mean()
    assert after["face"].mean == np.float64(expected)
    assert after["face"].max == clips.face[train].max() - expected
    x = clips.inputs(test, after, ARCHITECTURES["stcnn"])[0]
    assert x.shape == (2, 1, t, 8, 8) and x.dtype == np.float32
    x = clips.inputs(test, after, ARCHITECTURES["time_contrast"])[0]
    assert x.shape == (2, t, 1, 8, 8)
