"""Capture's frames in a shared-memory ring: the pixels a stage views are the pixels
capture read, slots are reused only once released, a stale or forged reference is a
WireError, and a real capture process sends its frames this way."""

from __future__ import annotations

import subprocess
from multiprocessing import shared_memory

import cv2
import msgpack
import numpy as np
import pytest
import zmq

from pipeline.errors import WireError
from pipeline.runtime import wire
from pipeline.runtime.frame_ring import FrameRingReader, FrameRingWriter
from pipeline.runtime.sockets import open_socket
from pipeline.sources.testpattern import read_stamped_index
from tests.conftest import REPO, mestream, write_config


def test_a_slot_is_refilled_only_after_its_reader_released_it() -> None:
    w = FrameRingWriter("mestream-test", slots=2, slot_bytes=16)
    r = FrameRingReader()
    try:
        waits = []
        s0, g0, v0 = w.acquire((16,), np.uint8, wait=lambda: True)
        v0[:] = 1
        s1, g1, _ = w.acquire((16,), np.uint8, wait=lambda: True)

        def give_up() -> bool:
            waits.append(1)
            return False

        # Both slots held: the writer waits, and gives up when its wait says so.
        assert w.acquire((16,), np.uint8, wait=give_up) is None
        assert waits and w.held() == 2
        assert r.view(w.name, s0, g0, [16], "uint8").tolist() == [1] * 16
        r.release(w.name, s0, g0)
        s2, g2, v2 = w.acquire((16,), np.uint8, wait=give_up)  # type: ignore[misc]
        assert s2 == s0 and g2 > g0
        v2[:] = 2
        with pytest.raises(WireError, match="overwritten"):  # a stale reference
            r.view(w.name, s0, g0, [16], "uint8")
        w.reclaim()  # the reader died holding slot 1: everything is free again
        assert w.held() == 0
    finally:
        r.close()
        w.close()


def test_forged_or_unmappable_references_are_wire_errors() -> None:
    w = FrameRingWriter("mestream-test", slots=2, slot_bytes=16)
    other = shared_memory.SharedMemory(create=True, size=4096)
    r = FrameRingReader()
    try:
        slot, gen, view = w.acquire((4, 4), np.uint8, wait=lambda: True)
        msg = wire.Message(wire.FRAME, "cam", 0, 0, {"image": view},
                           shared={"image": (w.name, slot, gen)})
        parts = wire.encode(msg)
        assert len(parts) == 2  # no pixels on the socket
        with pytest.raises(WireError, match="maps no frame rings"):
            wire.decode(parts)
        assert wire.decode(parts, r).buffers["image"].shape == (4, 4)
        for ring, error in (([w.name, 5, gen], "out of range"),
                            (["mestream-no-such-ring", 0, 1], "frame ring"),
                            ([other.name, 0, 1], "not a mestream frame ring"),
                            ([w.name, slot], "ring must be")):
            forged = wire.Message(wire.FRAME, "cam", 0, 0, {"image": view},
                                  shared={"image": ("x", 0, 0)})
            topic, header, *_ = wire.encode(forged)
            head = msgpack.unpackb(header)
            head["bufs"][0]["ring"] = ring
            with pytest.raises(WireError, match=error):
                wire.decode([topic, msgpack.packb(head)], r)
        big = np.zeros((9, 9), np.uint8)  # 81 bytes: over the 64-byte slot
        topic, header, *_ = wire.encode(wire.Message(
            wire.FRAME, "cam", 0, 0, {"image": big}, shared={"image": (w.name, slot, gen)}))
        with pytest.raises(WireError, match="exceeds its slot"):
            wire.decode([topic, header], r)
    finally:
        r.close()
        w.close()
        other.close()
        other.unlink()


def receive_frames(zctx, tmp_path, config, endpoint: str, check) -> tuple[list[int], str]:
    """Run a real capture stage alone, with this test as its next stage: decode each
    frame through a FrameRingReader, ``check(msg, image)`` it, release its slot, ack
    the end. Returns the seqs seen and the capture's log."""
    reader = FrameRingReader()
    seen: list[int] = []
    log_path = tmp_path / "capture.log"
    log = log_path.open("w")
    try:
        with open_socket(zctx, zmq.ROUTER, endpoint, bind=True) as sock:
            sock.setsockopt(zmq.RCVTIMEO, 60_000)
            proc = subprocess.Popen(mestream("stage", "capture", "--config", str(config)),
                                    cwd=REPO, stderr=log)
            while True:
                peer, *parts = sock.recv_multipart(copy=False)
                msg = wire.decode(parts, reader)
                if msg.kind == wire.EOS:
                    ack = wire.Message(wire.ACK, msg.stream, msg.seq, msg.pts_ns)
                    sock.send_multipart([peer, *wire.encode(ack)])
                    break
                if msg.kind != wire.FRAME:
                    continue
                assert msg.shared, "the frame came inline, not through the ring"
                assert check(msg, msg.buffers["image"]), f"frame {msg.seq} differs"
                seen.append(msg.seq)
                for segment, slot, gen in msg.shared.values():
                    reader.release(segment, slot, gen)
            assert proc.wait(timeout=30) == 0
    finally:
        reader.close()
        log.close()
    return seen, log_path.read_text()


def test_a_capture_process_sends_every_frame_through_its_ring_intact(tmp_path, zctx) -> None:
    """A real capture stage (test pattern, frame number stamped in the pixels), a ring
    of 2 slots so every slot is reused many times, this test as the next stage: each
    frame viewed is the frame with its seq, never one overwritten under the reader."""
    endpoint = f"ipc://{tmp_path}/next"
    config = write_config(tmp_path, {
        "name": "t-ring",
        "sources": {"bars": {"type": "testpattern", "width": 320, "height": 240,
                             "frames": 120, "realtime": False}},
        "stages": {"capture": {"type": "capture"},
                   "publish": {"type": "publish", "endpoint": endpoint,
                               "bind": f"ipc://{tmp_path}/pub"}},
        "transport": {"frame_ring": "on", "frame_ring_slots": 2, "hwm": 4},
    })
    seen, log_text = receive_frames(
        zctx, tmp_path, config, endpoint,
        check=lambda msg, image: read_stamped_index(image) == msg.seq)
    assert seen == list(range(120))
    assert "120 frames went through shared memory, 0 decoded in place (2 slots" in log_text


def test_video_frames_are_decoded_straight_into_the_ring_and_match_opencv(tmp_path, zctx):
    """A video file: from the second frame on, capture decodes into the ring slot
    itself (no copy). Every frame the next stage views equals OpenCV's own decode."""
    clip = REPO / "configs" / "examples" / "media" / "grid_bbaf2n.mpg"
    cap = cv2.VideoCapture(str(clip))
    reference = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        reference.append(image)
    cap.release()
    endpoint = f"ipc://{tmp_path}/next"
    config = write_config(tmp_path, {
        "name": "t-ring-video",
        "sources": {"grid": {"type": "file", "path": str(clip), "realtime": False}},
        "stages": {"capture": {"type": "capture"},
                   "publish": {"type": "publish", "endpoint": endpoint,
                               "bind": f"ipc://{tmp_path}/pub"}},
        "transport": {"frame_ring": "on", "frame_ring_slots": 2, "hwm": 4},
    })
    frames, log_text = receive_frames(zctx, tmp_path, config, endpoint,
                                      check=lambda msg, image: np.array_equal(
                                          image, reference[msg.seq]))
    assert frames == list(range(len(reference)))
    n = len(reference)
    assert f"{n} frames went through shared memory, {n - 1} decoded in place" in log_text
