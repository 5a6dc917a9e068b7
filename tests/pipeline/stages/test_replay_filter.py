"""What a re-read stream repeats is published once: per-frame records by seq, events by
time overlap, across epochs only; a restarted publish relearns it from its log."""

from __future__ import annotations

from pipeline.stages.publish.replay_filter import ReplayedRecordFilter


def event(onset_ms: int, offset_ms: int, stream: str = "cam", track: int = 0) -> dict:
    """An event record as publish gets it from classify: the interval nested."""
    return {"type": "event", "stream": stream, "seq": 0, "track": track, "label": "positive",
            "interval": {"onset_ns": onset_ms * 1_000_000, "apex_ns": onset_ms * 1_000_000,
                         "offset_ns": offset_ms * 1_000_000}}


def spot_event(onset_ms: int, offset_ms: int) -> dict:
    """As a pipeline ending at spot publishes it: the spotter's fields at the top."""
    return {"type": "event", "stream": "cam", "seq": 0, "track": 0,
            "onset_ns": onset_ms * 1_000_000, "apex_ns": onset_ms * 1_000_000,
            "offset_ns": offset_ms * 1_000_000}


def test_both_event_shapes_are_recognised_when_found_again() -> None:
    f = ReplayedRecordFilter()
    assert f.admit(event(1000, 1300), epoch=0)
    assert not f.admit(event(1000, 1300), epoch=1)
    assert f.admit(spot_event(5000, 5300), epoch=0)
    assert not f.admit(spot_event(5010, 5290), epoch=1)


def test_another_face_making_the_same_expression_is_not_a_repeat() -> None:
    f = ReplayedRecordFilter()
    assert f.admit(event(1000, 1300, track=0), epoch=0)
    assert f.admit(event(1000, 1300, track=1), epoch=1)
    assert not f.admit(event(1000, 1300, track=0), epoch=1)


def test_a_re_found_expression_is_dropped_and_a_new_one_kept() -> None:
    f = ReplayedRecordFilter()
    assert f.admit(event(1000, 1300), epoch=0)
    assert not f.admit(event(1010, 1320), epoch=1)  # the same expression found again
    assert f.admit(event(2000, 2200), epoch=1)      # one the first epoch never reached
    assert f.admit(event(1000, 1300, stream="other"), epoch=1)


def test_records_of_one_epoch_never_filter_each_other() -> None:
    f = ReplayedRecordFilter()
    assert f.admit(event(1000, 1300), epoch=0)
    assert f.admit(event(1000, 1300), epoch=0)  # two faces, one moment
    assert f.admit({"type": "face", "stream": "cam", "seq": 4, "track": 0}, epoch=0)
    assert f.admit({"type": "face", "stream": "cam", "seq": 4, "track": 1}, epoch=0)


def test_per_frame_records_continue_after_the_last_published_frame() -> None:
    f = ReplayedRecordFilter()
    for seq in range(10):
        assert f.admit({"type": "track", "stream": "cam", "seq": seq}, epoch=0)
    admitted = [seq for seq in range(6, 14)
                if f.admit({"type": "track", "stream": "cam", "seq": seq}, epoch=1)]
    assert admitted == [10, 11, 12, 13]
    assert f.admit({"type": "end_of_stream", "stream": "cam", "seq": 14}, epoch=1)
    assert not f.admit({"type": "end_of_stream", "stream": "cam", "seq": 14}, epoch=2)


def test_remembered_records_from_the_log_count_as_published() -> None:
    f = ReplayedRecordFilter()
    f.remember({"type": "face", "stream": "cam", "seq": 20}, epoch=0)
    f.remember(event(500, 700), epoch=0)
    assert not f.admit({"type": "face", "stream": "cam", "seq": 20}, epoch=1)
    assert not f.admit(event(510, 690), epoch=1)
    assert f.admit({"type": "face", "stream": "cam", "seq": 21}, epoch=1)
