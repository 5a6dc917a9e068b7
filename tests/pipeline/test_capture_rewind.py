"""A re-read asked for in the last moments of a stream's thread (its end acknowledged,
its socket closing) is read: a new thread reads the stream again once the old one is
gone. Before, the request was left for the exiting thread, nobody read it, and the run
waited for that stream's end forever (seen under load in test_faults'
kill-spot-then-classify). The capture stage runs in this process against a real ROUTER
playing the next stage; the thread's exit is held at its socket's close so the request
lands in that window every time."""

from __future__ import annotations

import contextlib
import threading
from contextlib import ExitStack

import zmq

from pipeline.config import parse_config
from pipeline.runtime import wire
from pipeline.runtime.metrics import StageMetrics
from pipeline.runtime.sockets import open_socket
from pipeline.runtime.stage import StageContext
from pipeline.runtime.wire import Message
from pipeline.stages import capture

FRAMES = 4


def one_pass(router: zmq.Socket, epoch: int) -> list[tuple[str, int]]:
    """The frames and end of one pass of the stream, the end acknowledged."""
    got = []
    while True:
        assert router.poll(30_000, zmq.POLLIN), f"nothing more of epoch {epoch}: {got}"
        peer, *parts = router.recv_multipart()
        msg = wire.decode(parts)
        if msg.kind not in (wire.FRAME, wire.EOS):
            continue  # watermarks, heartbeats
        assert msg.epoch == epoch, (msg.kind, msg.seq, msg.epoch)
        got.append((msg.kind, msg.seq))
        if msg.kind == wire.EOS:
            ack = Message(wire.ACK, msg.stream, msg.seq, msg.pts_ns, epoch=msg.epoch)
            router.send_multipart([peer, *wire.encode(ack)])
            return got


def test_a_re_read_asked_for_while_the_stream_thread_exits_is_read(tmp_path, monkeypatch):
    cfg = parse_config({
        "version": 1, "name": "t-rewind-exit",
        "sources": {"cam": {"type": "testpattern", "width": 64, "height": 48,
                            "frames": FRAMES}},
        "stages": {"capture": {"type": "capture"},
                   "publish": {"type": "publish", "bind": "tcp://127.0.0.1:1"}},
        "transport": {"kind": "ipc", "ipc_dir": str(tmp_path / "run"), "frame_ring": "off"},
    }, base_dir=tmp_path)
    closing, release = threading.Event(), threading.Event()
    passes = []

    @contextlib.contextmanager
    def held_at_close(*args, **kwargs):
        with open_socket(*args, **kwargs) as sock:
            yield sock
            passes.append(len(passes))
            if len(passes) == 1:  # the first thread, its stream ended and acknowledged
                closing.set()
                assert release.wait(30)

    monkeypatch.setattr(capture, "open_socket", held_at_close)
    zctx = zmq.Context()
    stop = threading.Event()
    stage = None
    try:
        with open_socket(zctx, zmq.ROUTER, cfg.input_endpoint("publish"), bind=True,
                         linger_ms=0) as router:
            ctx = StageContext(cfg, "capture", 0, zctx, StageMetrics("capture", 0), stop,
                               ExitStack())
            stage = capture.CaptureStage(ctx)
            stage.setup()
            stage.start({})
            first = one_pass(router, 0)
            assert closing.wait(30), "the stream's thread never got to its exit"
            stage.rewind({"cam": (0, 1)})  # e.g. the stage after publish's restarted
            release.set()
            second = one_pass(router, 1)
            stage.close()
            assert stage.finished()
    finally:
        release.set()
        stop.set()
        if stage is not None:
            stage.close()
        zctx.destroy(linger=0)
    expected = [*[(wire.FRAME, s) for s in range(FRAMES)], (wire.EOS, FRAMES)]
    assert first == expected and second == expected
