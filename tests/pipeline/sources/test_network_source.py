"""Network streams: ffmpeg serves a real clip on 127.0.0.1 and capture reads it
through OpenCV's FFmpeg backend; a stream that dies is reopened."""

from __future__ import annotations

import subprocess

import pytest

from pipeline.client import EventSubscriber
from tests.conftest import free_port, grid_clip, needs_ffmpeg, write_config

pytestmark = needs_ffmpeg


def ffmpeg_serve(url: str, *, loop: bool, listen: bool) -> subprocess.Popen[bytes]:
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-re"]
    if loop:
        cmd += ["-stream_loop", "-1"]
    cmd += ["-i", str(grid_clip()), "-an", "-c:v", "copy", "-f", "mpegts"]
    if listen:
        cmd += ["-listen", "1"]
    return subprocess.Popen([*cmd, url], stdin=subprocess.DEVNULL)


def network_config(tmp_path, url, port):
    return write_config(tmp_path, {
        "name": "t-net",
        "sources": {"net": {"type": "network", "url": url, "open_timeout_s": 5,
                            "read_timeout_s": 2,
                            "reconnect": {"initial_s": 0.2, "max_s": 1.0}}},
        "stages": {"capture": {"type": "capture"},
                   "publish": {"type": "publish", "bind": f"tcp://127.0.0.1:{port}",
                               "wait_subscribers": 1}},
    })


def frames_from(sub: EventSubscriber, n: int) -> list[dict]:
    out = []
    while len(out) < n:
        record = sub.receive(30)
        assert record is not None, f"only {len(out)} frames arrived"
        if record["type"] == "frame_record":
            out.append(record)
    return out


@pytest.mark.parametrize("scheme", ["udp", "http"])
def test_capture_reads_a_stream_served_by_ffmpeg(tmp_path, run_pipeline, scheme):
    media_port, port = free_port(), free_port()
    url = f"{scheme}://127.0.0.1:{media_port}"
    server = ffmpeg_serve(url, loop=True, listen=scheme == "http")
    try:
        with EventSubscriber(f"tcp://127.0.0.1:{port}") as sub:
            run = run_pipeline(network_config(tmp_path, url, port))
            frames = frames_from(sub, 30)
    finally:
        server.kill()
        server.wait()
    seqs = [r["seq"] for r in frames]
    pts = [r["pts_ns"] for r in frames]
    assert seqs == sorted(seqs) and len(set(seqs)) == 30
    assert all(b > a for a, b in zip(pts, pts[1:], strict=False)), "pts must increase"
    assert all(r["shapes"]["image"] == [288, 360, 3] for r in frames)
    run.close()
    assert run.proc.returncode == 0


def test_a_dead_stream_is_reopened_and_pts_keep_increasing(tmp_path, run_pipeline):
    media_port, port = free_port(), free_port()
    url = f"http://127.0.0.1:{media_port}"
    first = ffmpeg_serve(url, loop=False, listen=True)  # serves the clip once, then exits
    with EventSubscriber(f"tcp://127.0.0.1:{port}") as sub:
        run = run_pipeline(network_config(tmp_path, url, port))
        before = frames_from(sub, 20)
        assert first.wait(timeout=30) == 0  # the server is gone: the stream died
        second = ffmpeg_serve(url, loop=True, listen=True)
        try:
            after = []
            while not after or after[-1]["pts_ns"] <= 3_000_000_000:  # beyond one clip
                after += frames_from(sub, 1)
        finally:
            second.kill()
            second.wait()
    pts = [r["pts_ns"] for r in before + after]
    assert all(b > a for a, b in zip(pts, pts[1:], strict=False))
    assert "reopening" in run.log
