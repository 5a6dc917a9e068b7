"""Bad input, each a clear error or a counted drop, never a crash of the pipeline:
zero-byte and truncated videos, wrong-format and oversized files in an image folder,
wrong fps metadata, huge frames, a source that raises, many faces, and a rogue peer
sending wrong-version, pickled and oversized messages. (Configs with wrong types and unknown keys:
tests/pipeline/config/test_config.py, including its fuzz test; a corrupt and a missing video:
tests/pipeline/stages/test_capture_publish.py; frames without a face:
tests/pipeline/stages/test_align_stage.py.)"""

from __future__ import annotations

import json
import pickle
import struct
import subprocess
import zlib

import cv2
import msgpack
import numpy as np
import zmq

from pipeline.client import EventSubscriber
from pipeline.config import load_config
from pipeline.runtime import wire
from pipeline.runtime.sockets import open_socket
from pipeline.runtime.wire import Message
from tests.conftest import GRID, REPO, grid_clip, mestream, write_config
from tests.pipeline.stages.test_capture_publish import collect, write_video
from tests.reliability.test_replay import free_port_pair


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (decoders must refuse it
    before allocating gigabytes)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def claim_fps(path, fps: int) -> None:
    """Rewrite an AVI's stream header rate (dwRate / dwScale) in place."""
    data = bytearray(path.read_bytes())
    at = data.index(b"strh") + 8  # past the chunk id and size
    data[at + 20: at + 28] = struct.pack("<II", 1, fps)  # dwScale, dwRate
    path.write_bytes(bytes(data))


def test_bad_files_end_or_drop_cleanly_and_the_good_streams_carry_on(tmp_path,
                                                                      run_pipeline):
    (tmp_path / "zero.mp4").write_bytes(b"")
    whole = tmp_path / "whole.avi"
    write_video(whole, frames=40, fps=25)
    data = whole.read_bytes()
    (tmp_path / "truncated.avi").write_bytes(data[: len(data) // 2])
    write_video(tmp_path / "fps.avi", frames=20, fps=25)
    claim_fps(tmp_path / "fps.avi", 1)  # the container now says 1 fps
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in (1, 2, 5, 6):
        cv2.imwrite(str(folder / f"img{i}.png"), np.full((24, 32, 3), i, np.uint8))
    (folder / "img3.jpg").write_text("not an image at all")
    (folder / "img4.png").write_bytes(png_claiming(50_000, 50_000))
    port = free_port_pair()
    sources = {
        "zero": {"type": "file", "path": str(tmp_path / "zero.mp4"), "realtime": False},
        "truncated": {"type": "file", "path": str(tmp_path / "truncated.avi"),
                      "realtime": False},
        "fps-meta": {"type": "file", "path": str(tmp_path / "fps.avi"), "realtime": False},
        "fps-set": {"type": "file", "path": str(tmp_path / "fps.avi"), "realtime": False,
                    "fps": 25},
        "folder": {"type": "images", "path": str(folder), "fps": 10},
        "huge": {"type": "testpattern", "width": 7680, "height": 4320, "frames": 2,
                 "realtime": False},
        "buggy": {"type": "python", "factory": "tests.reliability.faulty_source:make",
                  "options": {"frames": 5}, "realtime": False},
    }
    config = write_config(tmp_path, {
        "name": "t-bad-input", "sources": sources,
        "stages": {"capture": {"type": "capture"},
                   "publish": {"type": "publish", "bind": f"tcp://127.0.0.1:{port}",
                               "wait_subscribers": 1}},
    })
    with EventSubscriber(f"tcp://127.0.0.1:{port}") as sub:
        run = run_pipeline(config)
        got = collect(sub, list(sources), timeout_s=120)
    assert run.wait(60) == 0, run.log

    def frames(sid: str) -> list[dict]:
        return [r for r in got[sid] if r["type"] == "frame_record"]

    assert [r["type"] for r in got["zero"]] == ["end_of_stream"]
    assert got["zero"][-1]["reason"] == "open-failed"
    cut = frames("truncated")
    assert 0 < len(cut) < 40 and [r["seq"] for r in cut] == list(range(len(cut)))
    assert got["truncated"][-1]["reason"] in ("end-of-file", "read-failed")
    meta = frames("fps-meta")
    assert len(meta) == 20
    assert all(b["pts_ns"] > a["pts_ns"] for a, b in zip(meta, meta[1:], strict=False))
    assert [r["pts_ns"] for r in frames("fps-set")] == [i * 40_000_000 for i in range(20)]
    # The two bad images are counted and skipped (their seqs stay unused); the rest is
    # read in order.
    assert [r["seq"] for r in frames("folder")] == [0, 1, 4, 5]
    assert got["folder"][-1]["reason"] == "end-of-file"
    assert "cannot read image" in run.log and "img3.jpg" in run.log and "img4.png" in run.log
    assert [r["shapes"]["image"] for r in frames("huge")] == [[4320, 7680, 3]] * 2
    # A source raising something other than SourceError ends its stream with the
    # traceback in the log instead of leaving it open forever.
    assert [r["seq"] for r in frames("buggy")] == list(range(5))
    assert got["buggy"][-1]["reason"] == "read-failed"
    assert "stream buggy: the source failed at seq 5" in run.log


def test_many_faces_in_a_frame_are_capped_at_max_faces(tmp_path, run_pipeline):
    """Four faces in every frame, max_faces 3: three tracks a frame, nothing fails."""
    cap = cv2.VideoCapture(str(GRID / "bbaf2n.mpg" if (GRID / "bbaf2n.mpg").exists()
                               else grid_clip()))
    folder = tmp_path / "crowd"
    folder.mkdir()
    for i in range(8):
        ok, frame = cap.read()
        assert ok
        cv2.imwrite(str(folder / f"f{i}.png"), np.vstack([np.hstack([frame, frame])] * 2))
    cap.release()
    port = free_port_pair()
    config = write_config(tmp_path, {
        "name": "t-crowd",
        "sources": {"crowd": {"type": "images", "path": str(folder), "fps": 25}},
        "stages": {"capture": {"type": "capture"},
                   "align": {"type": "align", "tracking": {"max_faces": 3,
                                                           "detect_every": 1}},
                   "publish": {"type": "publish", "bind": f"tcp://127.0.0.1:{port}",
                               "wait_subscribers": 1}},
    })
    with EventSubscriber(f"tcp://127.0.0.1:{port}") as sub:
        run = run_pipeline(config)
        got = collect(sub, ["crowd"], timeout_s=120)["crowd"]
    assert run.wait(60) == 0, run.log
    faces = [r for r in got if r["type"] == "face"]
    per_frame = {seq: [r["track"] for r in faces if r["seq"] == seq] for seq in range(8)}
    assert all(len(t) == 3 and len(set(t)) == 3 for t in per_frame.values()), per_frame
    assert "failed" not in run.log


def test_a_rogue_peer_cannot_crash_a_stage(tmp_path, zctx):
    """Wrong protocol versions, a pickle where the header belongs, an oversized header,
    buffers that lie about their size, unknown kinds, well-formed messages of 2,000
    invented stream ids (before: each got state and a metrics label of its own): each
    dropped and counted; a malformed replay request gets an error reply; the stage
    keeps serving."""
    port = free_port_pair()
    config = write_config(tmp_path, {
        "name": "t-rogue",
        "sources": {"cam": {"type": "testpattern", "frames": 3}},
        "stages": {"capture": {"type": "capture"},
                   "publish": {"type": "publish", "bind": f"tcp://127.0.0.1:{port}",
                               "wait_subscribers": 1}},
    })
    inp = load_config(config).input_endpoint("publish")
    image = np.zeros((8, 8, 3), np.uint8)
    good = [wire.encode(Message(wire.FRAME, "cam", s, s, {"image": image})) for s in range(3)]
    topic, header, buf = (bytes(p) if isinstance(p, bytes) else p.tobytes() for p in good[0])

    def with_header(**changes) -> list[bytes]:
        h = msgpack.unpackb(header)
        h.update(changes)
        return [topic, msgpack.packb(h), buf]

    rogue = [
        with_header(v=2), with_header(v="1"), with_header(kind="pickle"),
        [topic, pickle.dumps({"v": 1, "kind": "frame"}), buf],
        [topic, msgpack.packb({"v": 1, "pad": "x" * 70_000}), buf],
        with_header(bufs=[{"name": "image", "dtype": "uint8", "shape": [9999, 9999, 3]}]),
        with_header(bufs=[{"name": "image", "dtype": "object", "shape": [8, 8, 3]}]),
    ]
    forged = [wire.encode(Message(kind, f"fake-{i}", 0, 0, {"image": image}
                                  if kind == wire.FRAME else {}))
              for i in range(1000) for kind in (wire.FRAME, wire.EOS)]
    log = (tmp_path / "stage.log").open("w")
    with EventSubscriber(f"tcp://127.0.0.1:{port}", timeout_s=30) as sub:
        proc = subprocess.Popen(mestream("stage", "publish", "--config", str(config)),
                                cwd=REPO, stderr=log)
        with open_socket(zctx, zmq.DEALER, inp, bind=False, linger_ms=0) as peer, \
                open_socket(zctx, zmq.DEALER, f"tcp://127.0.0.1:{port + 1}", bind=False,
                            linger_ms=0) as replay:
            for parts in [good[0], *rogue, *[rogue[0]] * 1000, *forged, good[1]]:
                peer.send_multipart(parts)
            replay.send(b"\x80 not json")
            assert replay.poll(30_000, zmq.POLLIN), "no reply to a bad replay request"
            error = json.loads(replay.recv())
            replay.send(json.dumps({"v": 1, "type": "replay", "from_seq": 0}).encode())
            assert replay.poll(30_000, zmq.POLLIN)
            answer = replay.recv_multipart()
            peer.send_multipart(good[2])
            peer.send_multipart(wire.encode(Message(wire.EOS, "cam", 3, 3)))
            assert peer.poll(30_000, zmq.POLLIN), "no ack: the stage died"
        records = list(sub.until_end(["cam"]))
        assert proc.wait(timeout=30) == 0
    log.close()
    assert error["type"] == "error" and "not a JSON object" in error["error"]
    assert json.loads(answer[0])["type"] == "replay"
    assert [(r["type"], r["seq"]) for r in records] == [
        ("frame_record", 0), ("frame_record", 1), ("frame_record", 2), ("end_of_stream", 3)]
    text = (tmp_path / "stage.log").read_text()
    # every one counted, the log not flooded: the first 10, then every 1000th
    assert text.count("dropped a malformed message") == 11, text
    assert "dropped a malformed message (1000 so far)" in text
    assert text.count("not one of this stage's sources") == 12, text
    assert "'fake-0', not one of this stage's sources (1 so far)" in text
    assert f"? in=0 out=0 drop={len(rogue) + 1000 + len(forged)} " in text
    assert "fake-" not in text.split("not one of this stage's sources (2000 so far)")[-1]


def test_a_peer_sending_huge_messages_is_cut_off_and_the_stage_carries_on(tmp_path, zctx):
    """Before: three 108 MB frames from any local process were taken in. Now a message
    over transport.max_message_bytes disconnects its sender before it is buffered; a
    well-behaved sender's stream still arrives whole."""
    port = free_port_pair()
    config = write_config(tmp_path, {
        "name": "t-huge",
        "sources": {"cam": {"type": "testpattern", "frames": 3}},
        "stages": {"capture": {"type": "capture"},
                   "publish": {"type": "publish", "bind": f"tcp://127.0.0.1:{port}",
                               "wait_subscribers": 1}},
        "transport": {"max_message_bytes": 1 << 20},
    })
    inp = load_config(config).input_endpoint("publish")
    huge = wire.encode(Message(wire.FRAME, "big", 0, 0,
                               {"image": np.zeros((1024, 1024, 3), np.uint8)}))
    small = np.zeros((8, 8, 3), np.uint8)
    log = (tmp_path / "stage.log").open("w")
    with EventSubscriber(f"tcp://127.0.0.1:{port}", timeout_s=30) as sub:
        proc = subprocess.Popen(mestream("stage", "publish", "--config", str(config)),
                                cwd=REPO, stderr=log)
        with open_socket(zctx, zmq.DEALER, inp, bind=False, linger_ms=0) as rogue, \
                open_socket(zctx, zmq.DEALER, inp, bind=False, linger_ms=0) as peer:
            for _ in range(3):
                rogue.send_multipart(huge)
            for seq in range(3):
                peer.send_multipart(wire.encode(Message(wire.FRAME, "cam", seq, seq,
                                                        {"image": small})))
            peer.send_multipart(wire.encode(Message(wire.EOS, "cam", 3, 3)))
            assert peer.poll(30_000, zmq.POLLIN), "no ack: the stage died"
        records = list(sub.until_end(["cam"]))
        assert proc.wait(timeout=30) == 0
    log.close()
    assert [(r["stream"], r["seq"]) for r in records] == [("cam", s) for s in range(4)]
