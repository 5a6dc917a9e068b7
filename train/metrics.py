"""Recognition and spotting metrics, as the MEGC challenges define them
(../shared/docs/field.md sections 1.1 and 2).

Recognition (MEGC2019): predictions of ALL LOSO folds are pooled into one confusion
matrix first; then per class c (one-vs-rest) F1_c = 2 TP / (2 TP + FP + FN) and
recall_c = TP / N_c; UF1 = mean F1_c, UAR = mean recall_c. Never average per-fold F1 (a
fold of one sample has a degenerate F1). Per-dataset figures apply the same formulas to
the pooled predictions of one dataset.

Spotting: a predicted interval counts when IoU(pred, GT) >= 0.5, intervals being
inclusive frame ranges ``(onset, offset)``; see :func:`spot_f1` for the two matching rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int],
                     num_classes: int) -> np.ndarray:
    """``(C, C)`` counts, rows = true class, columns = predicted class.

    Example:
        >>> confusion_matrix([0, 0, 1], [0, 1, 1], 2).tolist()
        [[1, 1], [0, 1]]
    """
    m = np.zeros((num_classes, num_classes), dtype=np.int64)
    for t, p in zip(y_true, y_pred, strict=True):
        m[int(t), int(p)] += 1
    return m


def accuracy(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    """Fraction of correct predictions (0.0 for no samples)."""
    if len(y_true) == 0:
        return 0.0
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def _classes(y_true: Sequence[int], classes: Sequence[int] | None) -> list[int]:
    # MEGC averages over the classes present in the ground truth of the evaluated set (a
    # sub-dataset may lack one); pass ``classes`` to fix the set instead.
    return sorted(set(int(t) for t in y_true)) if classes is None else list(classes)


def uf1(y_true: Sequence[int], y_pred: Sequence[int],
        classes: Sequence[int] | None = None) -> float:
    """Unweighted F1: mean over classes of 2 TP / (2 TP + FP + FN) (0 where undefined).

    Example:
        >>> round(uf1([0, 0, 1, 1], [0, 1, 1, 1]), 4)   # F1_0 = 2/3, F1_1 = 4/5
        0.7333
    """
    t, p = np.asarray(y_true), np.asarray(y_pred)
    scores = []
    for c in _classes(y_true, classes):
        tp = int(np.sum((t == c) & (p == c)))
        fp = int(np.sum((t != c) & (p == c)))
        fn = int(np.sum((t == c) & (p != c)))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return float(np.mean(scores)) if scores else 0.0


def uar(y_true: Sequence[int], y_pred: Sequence[int],
        classes: Sequence[int] | None = None) -> float:
    """Unweighted average recall: mean over classes of TP / N_c (balanced accuracy).

    Example:
        >>> uar([0, 0, 1, 1], [0, 1, 1, 1])             # recalls 1/2 and 2/2
        0.75
    """
    t, p = np.asarray(y_true), np.asarray(y_pred)
    scores = []
    for c in _classes(y_true, classes):
        n = int(np.sum(t == c))
        scores.append(int(np.sum((t == c) & (p == c))) / n if n else 0.0)
    return float(np.mean(scores)) if scores else 0.0


def recognition_metrics(y_true: Sequence[int], y_pred: Sequence[int]) -> dict[str, float]:
    """``{"accuracy", "uf1", "uar", "n"}`` of pooled predictions."""
    return {"accuracy": accuracy(y_true, y_pred), "uf1": uf1(y_true, y_pred),
            "uar": uar(y_true, y_pred), "n": len(y_true)}


def confusion_png(matrix: np.ndarray, labels: Sequence[str], path: Path,
                  title: str = "") -> Path:
    """Write ``matrix`` (rows = true) as a PNG heat map with counts; returns ``path``."""
    import matplotlib

    matplotlib.use("Agg")      # no display on training machines
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(labels), 1.0 + 0.8 * len(labels)))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    top = matrix.max() if matrix.size else 0
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center",
                    color="white" if matrix[i, j] > top / 2 else "black")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


# ------------------------------------------------------------------------------------
# Spotting

Interval = tuple[int, int]


def interval_iou(a: Interval, b: Interval) -> float:
    """IoU of two inclusive frame ranges, as ``|frames(a) & frames(b)| / |frames(a) |
    frames(b)|`` (STRS-Metric); disjoint ranges give 0. The MEGC2020 baseline script
    counts one shared frame for disjoint ranges (its quirk), which only matters for
    intervals of a frame or two; we do not reproduce it.

    Example:
        >>> interval_iou((0, 9), (5, 14))     # 5 shared of 15
        0.3333333333333333
    """
    inter = min(a[1], b[1]) - max(a[0], b[0]) + 1
    if inter <= 0:
        return 0.0
    union = (a[1] - a[0] + 1) + (b[1] - b[0] + 1) - inter
    return inter / union


@dataclass(frozen=True)
class SpotScore:
    """Counts and scores of one spotting evaluation (pool counts over videos by adding
    ``tp``/``n_pred``/``n_gt`` before taking P, R, F1, as MEGC does)."""

    tp: int
    n_pred: int
    n_gt: int

    @property
    def precision(self) -> float:
        return self.tp / self.n_pred if self.n_pred else 0.0

    @property
    def recall(self) -> float:
        return self.tp / self.n_gt if self.n_gt else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: SpotScore) -> SpotScore:
        return SpotScore(self.tp + other.tp, self.n_pred + other.n_pred,
                         self.n_gt + other.n_gt)


def spot_score(pred: Sequence[Interval], gt: Sequence[Interval], rule: str = "megc2020",
               threshold: float = 0.5) -> SpotScore:
    """TP / #predictions / #GT of one video under ``rule`` (see :func:`spot_f1`)."""
    if rule == "megc2020":
        # The baseline script (result_helper.py) marks every GT that some prediction hits
        # and uses that count as TP for both precision and recall.
        found = sum(any(interval_iou(p, g) >= threshold for p in pred) for g in gt)
        return SpotScore(found, len(pred), len(gt))
    if rule == "strs":
        # Greedy one-to-one: the pairs with the highest IoU are matched first; a
        # prediction and a GT are each used at most once.
        pairs = sorted(((interval_iou(p, g), i, j) for i, p in enumerate(pred)
                        for j, g in enumerate(gt)), key=lambda x: (-x[0], x[1], x[2]))
        used_p: set[int] = set()
        used_g: set[int] = set()
        for iou, i, j in pairs:
            if iou < threshold:
                break
            if i not in used_p and j not in used_g:
                used_p.add(i)
                used_g.add(j)
        return SpotScore(len(used_p), len(pred), len(gt))
    raise ValueError(f"rule must be 'megc2020' or 'strs', got {rule!r}")


def spot_f1(pred: Sequence[Interval], gt: Sequence[Interval], rule: str = "megc2020",
            threshold: float = 0.5) -> float:
    """Spotting F1 of predicted vs ground-truth intervals (inclusive ``(onset, offset)``)
    at IoU >= ``threshold`` (0.5 in MEGC). P = TP / #pred, R = TP / #GT.

    The two matching rules, side by side:

    ===================  ==============================  ===============================
    ..                   ``"megc2020"``                  ``"strs"``
    ===================  ==============================  ===============================
    source               MEGC2020 baseline,              STRS-style (MEGC2023+ spot-then
                         ``result_helper.py``            -recognise), one-to-one
    a GT is found when   any prediction has IoU >= 0.5   it is matched to one prediction
    TP                   #GT found (each GT once)        #matched pairs
    one prediction on    finds both GTs: TP = 2          matches one: TP = 1
    two GTs
    two predictions on   the GT counts once: TP = 1      one matches, the other is an FP
    one GT               (precision 1/2)                 (TP = 1, precision 1/2)
    matching order       none needed                     greedy by IoU, highest first
    ===================  ==============================  ===============================

    (The published STRS-Metric script loops over predictions and lets a prediction claim
    every unmatched GT it overlaps (field.md 2.2); ``"strs"`` here is the stricter
    one-to-one greedy matching. Both rules agree whenever no prediction overlaps two GTs.)

    Example (one prediction overlapping two GTs):
        >>> pred, gt = [(0, 5)], [(0, 4), (1, 5)]     # IoU 5/6 with both
        >>> round(spot_f1(pred, gt, "megc2020"), 4), round(spot_f1(pred, gt, "strs"), 4)
        (1.3333, 0.6667)

    The MEGC2020 rule can exceed 1 (TP > #predictions) when one prediction finds several
    GTs; that is the script's behaviour, kept for comparability.
    """
    return spot_score(pred, gt, rule, threshold).f1
