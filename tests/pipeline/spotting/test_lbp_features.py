"""Uniform LBP codes and the chi-square distance, on hand-made patches."""

from __future__ import annotations

import numpy as np

from pipeline.spotting.lbp_features import (
    P8_BINS,
    block_histograms,
    chi_square,
    uniform_lbp,
)


def test_flat_patch_is_all_ones() -> None:
    # Every neighbour equals the centre, and >= sets the bit: 8 ones (uniform, bin 8).
    codes = uniform_lbp(np.full((9, 9), 50, np.uint8))
    assert codes.shape == (3, 3) and (codes == 8).all()


def test_codes_of_hand_made_patches() -> None:
    patch = np.zeros((7, 7), np.uint8)
    patch[3, 3] = 10                  # brighter than all 8 neighbours: no bit set
    assert uniform_lbp(patch)[0, 0] == 0
    patch[3, 6] = 20                  # the neighbour at (+3, 0) only: one bit
    assert uniform_lbp(patch)[0, 0] == 1
    patch[0, 3] = 20                  # and the one at (0, -3): two bits, not adjacent
    assert uniform_lbp(patch)[0, 0] == P8_BINS - 1   # non-uniform bin
    bright_top = np.zeros((7, 7), np.uint8)
    bright_top[3, 3] = 10
    bright_top[:2, :] = 30            # the 3 upper neighbours (45, 90, 135 deg): uniform
    assert uniform_lbp(bright_top)[0, 0] == 3


def test_diagonal_neighbours_are_bilinear() -> None:
    # The 45 degree neighbour sits at (+2.12, -2.12): a bright pixel at (+3, -3) alone
    # contributes 0.12 * 0.12 of it, below a centre of 10 even at 255.
    patch = np.zeros((7, 7), np.uint8)
    patch[3, 3] = 10
    patch[0, 6] = 255
    assert uniform_lbp(patch)[0, 0] == 0
    patch[1, 5] = 255                  # the nearest pixel (+2, -2): weight 0.77 -> set
    assert uniform_lbp(patch)[0, 0] == 1


def test_histograms_and_chi_square() -> None:
    rng = np.random.default_rng(0)
    codes = uniform_lbp(rng.integers(0, 255, (40, 40), dtype=np.uint8))
    hist = block_histograms(codes, 6, P8_BINS)
    assert hist.shape == (36, P8_BINS)
    assert np.allclose(hist.sum(axis=1), 1.0)
    assert np.allclose(chi_square(hist, hist), 0.0)
    other = block_histograms(uniform_lbp(rng.integers(0, 255, (40, 40), dtype=np.uint8)),
                             6, P8_BINS)
    d = chi_square(hist, other)
    assert (d > 0).all() and np.allclose(d, chi_square(other, hist))
    assert float(chi_square(np.array([1.0, 0.0]), np.array([0.0, 1.0]))) == 2.0
