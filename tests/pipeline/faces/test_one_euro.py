from __future__ import annotations

import numpy as np
import pytest

from pipeline.faces.one_euro import OneEuroFilter


def test_constant_input_stays_constant() -> None:
    f = OneEuroFilter(min_cutoff_hz=0.3, beta=0.3)
    value = np.array([12.5, -3.0, 0.25])
    for i in range(100):
        np.testing.assert_array_equal(f(value, i * 0.04), value)


def test_step_is_followed() -> None:
    f = OneEuroFilter(min_cutoff_hz=0.3, beta=0.3)
    out = [f(np.array([0.0]), i * 0.04)[0] for i in range(10)]
    out += [f(np.array([10.0]), i * 0.04)[0] for i in range(10, 40)]
    assert out[9] == 0.0
    assert 0.0 < out[10] < 10.0  # smoothed, not jumped
    assert out[10] < out[11] < out[12]  # monotonic approach
    assert out[15] == pytest.approx(10.0, abs=0.1)  # followed within a few frames
    assert out[-1] == pytest.approx(10.0, abs=1e-3)


def test_noise_is_reduced_when_still() -> None:
    rng = np.random.default_rng(0)
    f = OneEuroFilter(min_cutoff_hz=0.3, beta=0.3)
    raw = rng.normal(0, 0.1, size=500)  # a 0.1 px jitter, as of a fitted face transform
    out = np.array([f(np.array([v]), i * 0.04)[0] for i, v in enumerate(raw)])
    assert out[50:].std() < 0.3 * raw.std()


def test_repeated_or_backwards_timestamps_are_safe() -> None:
    f = OneEuroFilter(min_cutoff_hz=1.0, beta=0.1)
    first = f(np.array([1.0]), 1.0)
    again = f(np.array([5.0]), 1.0)  # same time: no division by zero
    back = f(np.array([9.0]), 0.5)  # backwards: ignored
    assert np.all(np.isfinite(again)) and np.all(np.isfinite(back))
    np.testing.assert_array_equal(again, first)
    np.testing.assert_array_equal(back, first)
    assert f(np.array([5.0]), 1.04)[0] > 1.0  # time moves on again: filtering resumes


def test_reset_passes_the_next_value_through() -> None:
    f = OneEuroFilter()
    f(np.array([0.0]), 0.0)
    f.reset()
    assert f.last is None
    assert f(np.array([7.0]), 0.04)[0] == 7.0


def test_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError):
        OneEuroFilter(min_cutoff_hz=0.0)
