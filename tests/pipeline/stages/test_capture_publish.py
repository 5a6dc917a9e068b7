"""Capture -> publish in separate processes over real ZeroMQ sockets, with a
subscriber that joined before the first frame."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import zmq

from pipeline.client import EventSubscriber
from pipeline.runtime import wire
from pipeline.runtime.sockets import open_socket
from pipeline.runtime.wire import Message
from tests.conftest import REPO, free_port, grid_clip, mestream, write_config


def collect(sub: EventSubscriber, streams: list[str], timeout_s: float = 60) -> dict:
    got: dict[str, list[dict]] = {s: [] for s in streams}
    sub.timeout_s = timeout_s
    for record in sub.until_end(streams):
        got[record["stream"]].append(record)
    ended = [s for s in streams if got[s] and got[s][-1]["type"] == "end_of_stream"]
    assert ended == streams, f"no end_of_stream within {timeout_s}s: {got}"
    return got


def ffprobe_pts_ms(path: Path) -> list[float] | None:
    if shutil.which("ffprobe") is None:
        return None
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "frame=best_effort_timestamp_time", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True)
    times = [float(t.strip(",")) for t in out.stdout.split() if t.strip(",")]
    return [(t - times[0]) * 1000 for t in times]


def write_video(path: Path, frames: int, fps: float, size=(96, 64)) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    for i in range(frames):
        img = np.full((size[1], size[0], 3), (i * 5) % 255, np.uint8)
        writer.write(img)
    writer.release()


def test_real_clip_and_written_video_arrive_complete_and_in_order(tmp_path, run_pipeline):
    clip = grid_clip()
    written = tmp_path / "written.avi"
    write_video(written, frames=40, fps=20)
    port = free_port()
    config = write_config(tmp_path, {
        "name": "t-files",
        "sources": {
            "grid": {"type": "file", "path": str(clip), "realtime": False},
            "written": {"type": "file", "path": str(written), "realtime": False},
        },
        "stages": {
            "capture": {"type": "capture"},
            "publish": {"type": "publish", "bind": f"tcp://127.0.0.1:{port}",
                        "wait_subscribers": 1},
        },
    })
    with EventSubscriber(f"tcp://127.0.0.1:{port}") as sub:  # joined before the run
        run = run_pipeline(config)
        got = collect(sub, ["grid", "written"])
    assert run.wait(60) == 0, run.log

    grid = [r for r in got["grid"] if r["type"] == "frame_record"]
    assert [r["seq"] for r in grid] == list(range(75))
    assert all(r["shapes"]["image"] == [288, 360, 3] for r in grid)
    expected = ffprobe_pts_ms(clip) or [i * 40.0 for i in range(75)]
    assert len(expected) == 75
    np.testing.assert_allclose([r["pts_ns"] / 1e6 for r in grid], expected, atol=1.0)
    assert got["grid"][-1]["type"] == "end_of_stream"
    assert got["grid"][-1]["reason"] == "end-of-file"

    own = [r for r in got["written"] if r["type"] == "frame_record"]
    assert [r["seq"] for r in own] == list(range(40))
    assert [r["pts_ns"] for r in own] == [i * 50_000_000 for i in range(40)]
    assert all(r["shapes"]["image"] == [64, 96, 3] for r in own)


def test_image_folder_is_read_in_natural_order(tmp_path, run_pipeline):
    folder = tmp_path / "sub01" / "EP02_01f"
    folder.mkdir(parents=True)
    for i in range(1, 13):  # img1 .. img12: a plain string sort would put img10 second
        cv2.imwrite(str(folder / f"img{i}.jpg"), np.zeros((32, 40 + i, 3), np.uint8))
    (folder / "notes.txt").write_text("not a frame")
    port = free_port()
    config = write_config(tmp_path, {
        "name": "t-images",
        "sources": {"ep": {"type": "images", "path": str(folder), "fps": 200}},
        "stages": {"capture": {"type": "capture"},
                   "publish": {"type": "publish", "bind": f"tcp://127.0.0.1:{port}",
                               "wait_subscribers": 1}},
    })
    with EventSubscriber(f"tcp://127.0.0.1:{port}") as sub:
        run = run_pipeline(config)
        got = collect(sub, ["ep"])["ep"]
    assert run.wait(60) == 0
    frames = [r for r in got if r["type"] == "frame_record"]
    assert [r["shapes"]["image"][1] for r in frames] == [40 + i for i in range(1, 13)]
    assert [r["pts_ns"] for r in frames] == [i * 5_000_000 for i in range(12)]


def test_streams_on_several_capture_processes_keep_their_own_order(tmp_path, run_pipeline):
    port = free_port()
    sources = {f"p{i}": {"type": "testpattern", "width": 64, "height": 48, "fps": 1000,
                         "frames": 120, "realtime": False} for i in range(4)}
    config = write_config(tmp_path, {
        "name": "t-many",
        "sources": sources,
        "stages": {"capture": {"type": "capture", "replicas": 2},
                   "publish": {"type": "publish", "bind": f"tcp://127.0.0.1:{port}",
                               "wait_subscribers": 1}},
    })
    with EventSubscriber(f"tcp://127.0.0.1:{port}") as sub:
        run = run_pipeline(config)
        got = collect(sub, list(sources))
    assert run.wait(60) == 0
    for sid in sources:
        frames = [r for r in got[sid] if r["type"] == "frame_record"]
        assert [r["seq"] for r in frames] == list(range(120)), sid
        assert [r["pts_ns"] for r in frames] == [i * 1_000_000 for i in range(120)]


def test_a_stage_survives_malformed_messages_and_drops_duplicates(tmp_path, zctx):
    """`mestream stage` alone (as on a second host): garbage on its input is counted
    and dropped, replayed seqs are dropped, the valid messages still come out, and the
    end-of-stream is acknowledged to the sender, which may then close at once."""
    port = free_port()
    config = write_config(tmp_path, {
        "name": "t-garbage",
        "sources": {"cam": {"type": "testpattern", "frames": 3}},
        "stages": {"capture": {"type": "capture"},
                   "publish": {"type": "publish", "bind": f"tcp://127.0.0.1:{port}",
                               "wait_subscribers": 1}},
    })
    from pipeline.config import load_config

    inp = load_config(config).input_endpoint("publish")
    log = (tmp_path / "stage.log").open("w")
    with EventSubscriber(f"tcp://127.0.0.1:{port}", timeout_s=30) as sub:
        proc = subprocess.Popen(mestream("stage", "publish", "--config", str(config)),
                                cwd=REPO, stderr=log)
        with open_socket(zctx, zmq.DEALER, inp, bind=False, linger_ms=0) as push:
            image = np.zeros((8, 8, 3), np.uint8)
            garbage = [[b"cam"], [b"cam", b"\xc1\xff"], [b"cam", b"{}", b"x"],
                       wire.encode(Message(wire.FRAME, "cam", 9, 0))]  # no image
            for parts in garbage:
                push.send_multipart(parts)
            for seq in (0, 1, 1, 0, 2):
                push.send_multipart(wire.encode(
                    Message(wire.FRAME, "cam", seq, seq * 10, {"image": image})))
            push.send_multipart(wire.encode(Message(wire.EOS, "cam", 3, 20)))
            assert push.poll(30_000, zmq.POLLIN), "no ack for the end-of-stream"
            ack = wire.decode(push.recv_multipart())
        records = list(sub.until_end(["cam"]))
        assert proc.wait(timeout=30) == 0
    log.close()
    assert (ack.kind, ack.stream, ack.seq) == (wire.ACK, "cam", 3)
    assert [(r["type"], r["seq"]) for r in records] == [
        ("frame_record", 0), ("frame_record", 1), ("frame_record", 2), ("end_of_stream", 3)]
    text = (tmp_path / "stage.log").read_text()
    assert text.count("dropped a malformed message") == 4


@pytest.mark.parametrize("bad", ["missing.mp4", "corrupt.mp4"])
def test_an_unreadable_file_ends_its_stream_and_the_others_carry_on(tmp_path, run_pipeline,
                                                                     bad):
    path = tmp_path / bad
    if bad == "corrupt.mp4":
        path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    port = free_port()
    config = write_config(tmp_path, {
        "name": "t-bad",
        "sources": {"bad": {"type": "file", "path": str(path), "realtime": False},
                    "good": {"type": "testpattern", "width": 64, "height": 48,
                             "frames": 30, "realtime": False}},
        "stages": {"capture": {"type": "capture"},
                   "publish": {"type": "publish", "bind": f"tcp://127.0.0.1:{port}",
                               "wait_subscribers": 1}},
    })
    with EventSubscriber(f"tcp://127.0.0.1:{port}") as sub:
        # `run` refuses a missing file up front; a stage started alone must survive it.
        run = run_pipeline(config) if bad == "corrupt.mp4" else None
        if run is None:
            logs = [(tmp_path / f"{s}.log").open("w") for s in ("publish", "capture")]
            proc = [subprocess.Popen(mestream("stage", s, "--config", str(config)), cwd=REPO,
                                     stderr=f) for s, f in zip(("publish", "capture"), logs,
                                                               strict=True)]
        try:
            got = collect(sub, ["bad", "good"])
        finally:
            if run is None:
                codes = [p.wait(timeout=30) for p in proc]
                text = "".join(p.read_text() for p in sorted(tmp_path.glob("*.log")))
    if run is not None:
        assert run.wait(60) == 0, run.log
    else:
        assert codes == [0, 0], text
    assert got["bad"][-1]["type"] == "end_of_stream"
    assert got["bad"][-1]["reason"] == "open-failed"
    assert len([r for r in got["good"] if r["type"] == "frame_record"]) == 30
