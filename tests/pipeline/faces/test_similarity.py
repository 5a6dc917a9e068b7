from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.faces.similarity import (
    apply_transform,
    estimate_similarity,
    invert_similarity,
    params_to_similarity,
    similarity_to_params,
)


def _similarity(scale: float, angle: float, tx: float, ty: float) -> np.ndarray:
    c, s = scale * math.cos(angle), scale * math.sin(angle)
    return np.array([[c, -s, tx], [s, c, ty]])


def test_recovers_a_known_similarity_exactly() -> None:
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 300, size=(10, 2))
    truth = _similarity(1.37, 0.3, -25.0, 41.5)
    fitted = estimate_similarity(src, apply_transform(truth, src))
    np.testing.assert_allclose(fitted, truth, atol=1e-9)


def test_least_squares_with_noise_and_no_reflection() -> None:
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 100, size=(50, 2))
    truth = _similarity(0.8, -1.0, 5.0, 7.0)
    dst = apply_transform(truth, src) + rng.normal(0, 0.5, size=src.shape)
    fitted = estimate_similarity(src, dst)
    np.testing.assert_allclose(fitted, truth, atol=0.1)
    # A mirrored target is still fitted by a rotation (positive determinant).
    mirrored = src * [-1, 1]
    assert np.linalg.det(estimate_similarity(src, mirrored)[:, :2]) >= 0


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        estimate_similarity(np.zeros((1, 2)), np.zeros((1, 2)))
    with pytest.raises(ValueError):
        estimate_similarity(np.ones((3, 2)), np.zeros((3, 2)))


def test_params_round_trip_and_inverse() -> None:
    truth = _similarity(2.5, 2.9, 100.0, -3.0)
    for pivot in [(0.0, 0.0), (64.0, 64.0)]:
        params = similarity_to_params(truth, pivot)
        np.testing.assert_allclose(params_to_similarity(params, pivot), truth, atol=1e-9)
    assert similarity_to_params(truth)[2] == pytest.approx(math.log(2.5))
    assert similarity_to_params(truth)[3] == pytest.approx(2.9)
    pts = np.array([[1.0, 2.0], [30.0, -4.0]])
    back = apply_transform(invert_similarity(truth), apply_transform(truth, pts))
    np.testing.assert_allclose(back, pts, atol=1e-9)
