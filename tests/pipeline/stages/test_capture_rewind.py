"""Capture's re-reads (rewind), run in this process with this test as the runner: it
takes the stage's outbox messages as the runner would send them.

A re-read asked for after a stream's pass ended is read by a new pass (before the
reader objects, a request landing in a stream thread's last moments was never read and
the run waited forever: seen under load in test_faults' kill-spot-then-classify); one
asked for mid-stream is taken up at the next frame boundary: what was queued of the old
epoch is dropped and the file is read again from the asked frame."""

from __future__ import annotations

import time

import pytest

from pipeline.runtime import wire
from pipeline.runtime.wire import Message
from pipeline.stages.capture.stage import CaptureStage

FRAMES = 12


@pytest.fixture
def capture(tmp_path, stage_in_process) -> CaptureStage:
    stage = stage_in_process({
        "name": "t-rewind",
        "sources": {"cam": {"type": "testpattern", "width": 64, "height": 48,
                            "frames": FRAMES}},
        "stages": {"capture": {"type": "capture"},
                   "publish": {"type": "publish", "bind": "tcp://127.0.0.1:1"}},
        "transport": {"kind": "ipc", "ipc_dir": str(tmp_path / "run"), "frame_ring": "off",
                      "watermark_every": 5},
    }, "capture")
    assert isinstance(stage, CaptureStage)
    return stage


def take(stage: CaptureStage, count: int | None = None,
         until_eos_of: int | None = None) -> list[Message]:
    """Messages as the runner takes them: ``count`` of them, or up to the end of the
    epoch ``until_eos_of``."""
    box = stage.outboxes()["cam"]
    got: list[Message] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        msg = box.peek()
        if msg is None:
            stage.wait_ready(0.5)
            continue
        box.pop(msg)
        got.append(msg)
        if count is not None and len(got) == count:
            return got
        if msg.kind == wire.EOS and msg.epoch == until_eos_of:
            return got
    raise AssertionError(f"timed out; got {[(m.kind, m.seq, m.epoch) for m in got]}")


def frames(msgs: list[Message]) -> list[tuple[int, int]]:
    return [(m.seq, m.epoch) for m in msgs if m.kind == wire.FRAME]


def test_a_re_read_asked_for_after_the_stream_ended_is_read(capture):
    capture.start({})
    first = take(capture, until_eos_of=0)
    assert frames(first) == [(s, 0) for s in range(FRAMES)]
    assert [m.seq for m in first if m.kind == wire.WATERMARK] == [5, 10]
    deadline = time.monotonic() + 30
    while not capture.finished():  # the pass is over and everything was taken
        assert time.monotonic() < deadline
        capture.wait_ready(0.05)
    capture.rewind({"cam": (5, 1)})  # e.g. the stage after capture restarted
    assert not capture.finished()
    second = take(capture, until_eos_of=1)
    assert frames(second) == [(s, 1) for s in range(5, FRAMES)]
    assert second[-1].kind == wire.EOS and second[-1].seq == FRAMES


def test_a_re_read_asked_for_mid_stream_drops_the_old_epoch_and_reads_again(capture):
    capture.start({})
    head = take(capture, count=3)  # the reader is now blocked on its full outbox
    assert frames(head) == [(0, 0), (1, 0), (2, 0)]
    capture.rewind({"cam": (1, 1)})
    capture.rewind({"cam": (0, 1)})  # an older request for the same epoch: ignored
    rest = take(capture, until_eos_of=1)
    old = [m for m in rest if m.epoch == 0]
    # At most what the reader had queued before it took the request up (the outbox
    # and the frame in hand), never a message of the old epoch after the new one's.
    assert len(old) <= 3 and all(m.kind != wire.EOS for m in old)
    assert [m.epoch for m in rest] == sorted(m.epoch for m in rest)
    assert frames([m for m in rest if m.epoch == 1]) == [(s, 1) for s in range(1, FRAMES)]
    assert capture.outboxes()["cam"].peek() is None
