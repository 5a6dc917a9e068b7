"""The restart rules (pipeline/runtime/recovery.py) as a user relies on them: what is
re-read after which crash, and what a stage does with an old or new epoch."""

from __future__ import annotations

from pipeline.runtime.recovery import (
    STREAM_ENDED,
    EpochStep,
    epoch_step,
    passed_watermark,
    replay_margin,
    reread_from,
    resume_from,
    watermark_due,
)


def test_a_stage_drops_old_epochs_and_resets_on_a_new_one():
    assert epoch_step(0, 1) is EpochStep.STALE
    assert epoch_step(1, 1) is EpochStep.CURRENT
    assert epoch_step(2, 1) is EpochStep.NEWER


def test_a_watermark_is_lowered_to_the_oldest_frame_still_held():
    assert passed_watermark(40, None) == 40
    assert passed_watermark(40, 25) == 25
    assert passed_watermark(40, 55) == 40  # never raised


def test_a_re_read_starts_at_the_last_stages_watermark_or_the_start():
    assert reread_from(30, "from_watermark") == 30
    assert reread_from(30, "from_start") == 0
    assert reread_from(STREAM_ENDED, "from_watermark") is None  # it has the end


def test_a_restarted_capture_replays_files_and_carries_on_live_sources():
    margin = replay_margin(16)
    assert margin == 18
    assert resume_from(None, False, margin) == 0
    assert resume_from(100, False, margin) == 82
    assert resume_from(5, False, margin) == 0
    assert resume_from(100, True, margin) == 101


def test_a_watermark_follows_every_nth_frame():
    assert [s for s in range(25) if watermark_due(s, 10)] == [9, 19]
