"""Clip preparation on a tiny synthetic CASME II dataset, through the pipeline's own face
tracking and alignment: shapes of both temporal modes, the on-disk cache, and faceless
clips."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.train.synth_data import tiny_casme2
from train.clips import ClipError, interpolate, prepare_clip
from train.datasets import read_dataset
from train.datasets.sample import Sample


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> list[Sample]:
    return read_dataset("casme2", tiny_casme2(tmp_path_factory))


def test_interpolate_mode_shapes_and_cache(samples, tmp_path) -> None:
    s = samples[0]
    first = prepare_clip(s, size=64, region_size=32, frames=16, cache_dir=tmp_path)
    assert first.face.shape == (16, 64, 64) and first.face.dtype == np.uint8
    assert first.eyes.shape == (16, 32, 32) and first.mouth.shape == (16, 32, 32)
    assert not first.from_cache and first.missing == 0
    assert (first.onset, first.offset) == (0, 15)      # the span is onset..offset
    assert first.onset <= first.apex <= first.offset
    assert first.label == s.label and first.subject == s.subject
    assert first.face.std() > 10                        # a face, not a blank
    again = prepare_clip(s, size=64, region_size=32, frames=16, cache_dir=tmp_path)
    assert again.from_cache
    np.testing.assert_array_equal(again.face, first.face)
    # Another T reuses the aligned frames (resampling is not cached).
    assert prepare_clip(s, frames=20, cache_dir=tmp_path).from_cache


def test_fixed_window_mode_pads_with_the_last_frame(samples, tmp_path) -> None:
    s = samples[1]
    span = s.offset - s.onset + 1
    long = span + 10
    clip = prepare_clip(s, frames=long, mode="fixed_window", cache_dir=tmp_path)
    assert clip.face.shape == (long, 64, 64) and clip.mouth.shape == (long, 32, 32)
    available = len(s.frames) - s.onset
    if available < long:        # short clip: repeated last frame
        np.testing.assert_array_equal(clip.face[-1], clip.face[available - 1])
    short = prepare_clip(s, frames=5, mode="fixed_window", window_start=2, margin=1,
                         cache_dir=tmp_path)
    assert short.face.shape == (5, 64, 64)


def test_interpolate_is_linear() -> None:
    x = np.stack([np.full((2, 2), v, np.uint8) for v in (0, 10, 20)])
    assert interpolate(x, 5)[:, 0, 0].tolist() == [0, 5, 10, 15, 20]


@pytest.mark.parametrize("n, frames", [(1, 18), (7, 18), (40, 24), (96, 18)])
def test_training_clips_are_resampled_as_the_spot_stage_resamples(n, frames) -> None:
    """A constant-rate clip becomes the same T frames in training (frame indices) as in
    the serving window (pts, linear in time): the classifier sees one resampling."""
    from pipeline.stages.spot.windowing import ClipWindow

    rng = np.random.default_rng(n)
    stack = rng.integers(0, 256, (n, 16, 16)).astype(np.uint8)
    window = ClipWindow(history_ms=60_000)
    for i, face in enumerate(stack):
        window.append(i * 33_333_333, i, face, face[:8, :8], face[8:, 8:])
    served = window.clip(0, (n - 1) * 33_333_333, frames)
    assert served is not None
    np.testing.assert_array_equal(interpolate(stack, frames), served.face)


def test_no_face_in_any_frame_names_the_clip(tmp_path) -> None:
    frames = []
    for i in range(3):
        p = tmp_path / f"img{i + 1}.jpg"
        cv2.imwrite(str(p), np.full((120, 160, 3), 90, np.uint8))
        frames.append(p)
    s = Sample(dataset="casme2", subject="sub09", clip="EP99_01", video="EP99_01",
               frames=tuple(frames), onset=0, apex=1, offset=2, label="others", aus="",
               kind="micro", fps=50.0, first_frame_number=1)
    with pytest.raises(ClipError, match="sub09/EP99_01"):
        prepare_clip(s, frames=4, cache_dir=tmp_path / "cache")
