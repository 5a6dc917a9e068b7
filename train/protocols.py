"""Evaluation protocols: which samples train and which test, per fold.

- :func:`loso_folds`: leave-one-subject-out, one fold per subject (the field's standard;
  MEGC2019 composite = LOSO over the composite's dataset-prefixed subjects, 68 folds on
  the real data).
- :func:`split_80_20`: one stratified, seeded 80/20 split, the seed paper's protocol, kept
  for comparison with its numbers (the seed's own split was not stratified).
- :func:`inner_validation`: subjects held out of a fold's TRAINING subjects, for early
  stopping. Model selection never looks at the test fold (field.md 1.1 lists published
  code that does; that inflates results).

Folds hold indices into the sample list.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from train.datasets.sample import Sample


@dataclass(frozen=True)
class Fold:
    """One train/test partition; ``name`` is the held-out subject for LOSO."""

    name: str
    train: tuple[int, ...]
    test: tuple[int, ...]


def subject_key(sample: Sample, multi_dataset: bool) -> str:
    """The person a sample shows. Subject ids repeat across datasets ("s1", "sub01"), so
    with several datasets the key carries the dataset (the composite's prefix, or one
    added here).

    Example:
        >>> from types import SimpleNamespace as S
        >>> subject_key(S(dataset="smic_hs", subject="s1"), True)
        'smic_hs_s1'
        >>> subject_key(S(dataset="casme2", subject="casme2_sub01"), True)
        'casme2_sub01'
    """
    if not multi_dataset or sample.subject.startswith(f"{sample.dataset}_"):
        return sample.subject
    return f"{sample.dataset}_{sample.subject}"


def subjects(samples: Sequence[Sample]) -> list[str]:
    """The subject key of each sample (see :func:`subject_key`)."""
    multi = len({s.dataset for s in samples}) > 1
    return [subject_key(s, multi) for s in samples]


def loso_folds(samples: Sequence[Sample]) -> list[Fold]:
    """One fold per subject, in subject order; the subject's samples test, all others train.

    Example:
        >>> from types import SimpleNamespace as S
        >>> xs = [S(dataset="d", subject=s) for s in ("a", "b", "a")]
        >>> [(f.name, f.train, f.test) for f in loso_folds(xs)]
        [('a', (1,), (0, 2)), ('b', (0, 2), (1,))]
    """
    keys = subjects(samples)
    folds = []
    for subject in sorted(set(keys)):
        test = tuple(i for i, k in enumerate(keys) if k == subject)
        train = tuple(i for i, k in enumerate(keys) if k != subject)
        folds.append(Fold(subject, train, test))
    return folds


def split_80_20(labels: Sequence[int | str], seed: int = 0,
                test_fraction: float = 0.2) -> Fold:
    """A stratified, seeded split: each class contributes ``round(n_c * test_fraction)``
    (at least one when it has two or more samples) randomly chosen samples to the test set.

    Example:
        >>> labels = [0] * 10 + [1] * 5
        >>> f = split_80_20(labels, seed=4)
        >>> len(f.test), sorted(labels[i] for i in f.test)
        (3, [0, 0, 1])
    """
    rng = np.random.default_rng(seed)
    by_class: dict[int | str, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        by_class[label].append(i)
    test: list[int] = []
    for label in sorted(by_class, key=str):
        idx = np.array(by_class[label])
        rng.shuffle(idx)
        k = round(len(idx) * test_fraction)
        if k == 0 and len(idx) >= 2:
            k = 1
        test.extend(int(i) for i in idx[:k])
    held = set(test)
    train = tuple(i for i in range(len(labels)) if i not in held)
    return Fold(f"split80_20_seed{seed}", train, tuple(sorted(test)))


def inner_validation(train: Sequence[int], samples: Sequence[Sample], fraction: float = 0.2,
                     seed: int = 0) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Split a fold's TRAINING indices into (fit, validation) by whole subjects: about
    ``fraction`` of the training subjects (at least one, never all) validate.

    Example:
        >>> from types import SimpleNamespace as S
        >>> xs = [S(dataset="d", subject=s) for s in "aabbcc"]
        >>> fit, val = inner_validation(range(6), xs, fraction=0.3, seed=0)
        >>> len(val), set(fit) | set(val) == set(range(6))
        (2, True)
    """
    keys = subjects(samples)
    train_subjects = sorted({keys[i] for i in train})
    if len(train_subjects) < 2:
        raise ValueError("an inner validation split needs at least two training subjects")
    rng = np.random.default_rng(seed)
    k = min(len(train_subjects) - 1, max(1, round(len(train_subjects) * fraction)))
    held = {train_subjects[i] for i in rng.permutation(len(train_subjects))[:k]}
    fit = tuple(i for i in train if keys[i] not in held)
    val = tuple(i for i in train if keys[i] in held)
    return fit, val
