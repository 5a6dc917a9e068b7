"""Recognition metrics on pooled predictions and spotting F1 under both matching rules,
against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from train.metrics import (
    accuracy,
    confusion_matrix,
    confusion_png,
    interval_iou,
    recognition_metrics,
    spot_f1,
    spot_score,
    uar,
    uf1,
)


def test_pooled_uf1_uar_by_hand() -> None:
    # Two LOSO folds pooled: fold A true [0, 0, 1], pred [0, 1, 1]; fold B true [2, 2, 0],
    # pred [2, 0, 0]. Pooled: true 0 0 1 2 2 0 / pred 0 1 1 2 0 0.
    true = [0, 0, 1] + [2, 2, 0]
    pred = [0, 1, 1] + [2, 0, 0]
    # class 0: TP 2 (idx 0, 5), FP 1 (idx 4), FN 1 (idx 1) -> F1 4/6; recall 2/3
    # class 1: TP 1, FP 1, FN 0 -> F1 2/3; recall 1
    # class 2: TP 1, FP 0, FN 1 -> F1 2/3; recall 1/2
    assert uf1(true, pred) == pytest.approx(2 / 3)
    assert uar(true, pred) == pytest.approx((2 / 3 + 1 + 1 / 2) / 3)
    assert accuracy(true, pred) == pytest.approx(4 / 6)
    assert confusion_matrix(true, pred, 3).tolist() == [[2, 1, 0], [0, 1, 0], [1, 0, 1]]
    # Averaging per-fold scores instead would differ (0.75): the pooled one is MEGC's.
    per_fold = np.mean([uar([0, 0, 1], [0, 1, 1]), uar([2, 2, 0], [2, 0, 0])])
    assert per_fold == pytest.approx(0.75) != pytest.approx(uar(true, pred))
    m = recognition_metrics(true, pred)
    assert set(m) == {"accuracy", "uf1", "uar", "n"} and m["n"] == 6


def test_class_absent_from_predictions_scores_zero() -> None:
    assert uf1([0, 1], [0, 0]) == pytest.approx((2 / 3 + 0) / 2)
    assert uar([0, 1], [0, 0]) == pytest.approx(0.5)


def test_confusion_png(tmp_path) -> None:
    path = confusion_png(np.array([[3, 1], [0, 2]]), ["a", "b"], tmp_path / "c.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_iou_inclusive_frames() -> None:
    assert interval_iou((0, 9), (0, 9)) == 1.0
    assert interval_iou((0, 9), (10, 19)) == 0.0
    assert interval_iou((0, 9), (5, 14)) == pytest.approx(5 / 15)


def test_spotting_rules_differ_on_one_prediction_over_two_gts() -> None:
    # pred (0, 5) vs GTs (0, 4) and (1, 5): IoU 5/6 with each.
    pred, gt = [(0, 5), (20, 30)], [(0, 4), (1, 5), (50, 60)]
    megc = spot_score(pred, gt, "megc2020")
    strs = spot_score(pred, gt, "strs")
    assert (megc.tp, megc.n_pred, megc.n_gt) == (2, 2, 3)   # both GTs found
    assert (strs.tp, strs.n_pred, strs.n_gt) == (1, 2, 3)   # one-to-one
    # MEGC2020: P = 2/2, R = 2/3 -> F1 0.8; STRS: P = 1/2, R = 1/3 -> F1 0.4
    assert spot_f1(pred, gt, "megc2020") == pytest.approx(0.8)
    assert spot_f1(pred, gt, "strs") == pytest.approx(0.4)


def test_spotting_rules_agree_without_shared_overlaps() -> None:
    pred, gt = [(0, 9), (100, 104), (200, 210)], [(1, 10), (102, 110)]
    # (0,9)-(1,10): 9/11 hit; (100,104)-(102,110): 3/11 miss -> TP 1, P 1/3, R 1/2
    for rule in ("megc2020", "strs"):
        assert spot_f1(pred, gt, rule) == pytest.approx(2 * (1 / 3) * 0.5 / (1 / 3 + 0.5))


def test_spotting_greedy_takes_best_iou_first() -> None:
    # GT (0, 9); preds (0, 8) IoU 0.9 and (0, 9) IoU 1.0: the exact one matches.
    assert spot_score([(0, 8), (0, 9)], [(0, 9)], "strs").tp == 1
    with pytest.raises(ValueError):
        spot_f1([], [], "other")
