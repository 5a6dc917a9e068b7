"""``type: gstreamer`` sources through Debian's GStreamer and PyGObject: videotestsrc
(frames, pts, end of stream), a real video file (the same frames OpenCV decodes), clear
errors for a bad pipeline, and a capture -> publish pipeline reading one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.client import EventSubscriber
from pipeline.errors import SourceError
from pipeline.faces.images import video_frames
from pipeline.sources.gstreamer import GStreamerSource, import_gst
from tests.conftest import REPO, free_port, grid_clip, write_config
from tests.pipeline.stages.test_capture_publish import collect

try:
    import_gst()
    HAVE_GST = True
except SourceError:
    HAVE_GST = False
pytestmark = pytest.mark.skipif(not HAVE_GST, reason="GStreamer / PyGObject not installed "
                                "(make test installs Debian's)")


def _read_all(source: GStreamerSource) -> list[tuple[np.ndarray, int]]:
    source.open()
    try:
        out = []
        while (got := source.read()) is not None:
            out.append(got)
        return out
    finally:
        source.close()


def _mjpeg_copy(tmp_path: Path) -> tuple[Path, list[np.ndarray]]:
    """A real GRID clip re-encoded as MJPEG in AVI (demuxed and decoded by
    gstreamer1.0-plugins-good), and the frames OpenCV decodes from that file."""
    path = tmp_path / "grid.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (360, 288))
    for frame in video_frames(grid_clip()):
        writer.write(frame)
    writer.release()
    return path, video_frames(path)


def test_videotestsrc_frames_pts_and_end() -> None:
    frames = _read_all(GStreamerSource(
        "t", "videotestsrc num-buffers=10 ! video/x-raw,width=320,height=240,framerate=25/1"))
    assert len(frames) == 10
    assert all(f.shape == (240, 320, 3) and f.dtype == np.uint8 for f, _ in frames)
    assert [p for _, p in frames] == [i * 40_000_000 for i in range(10)]
    # Not a blank picture: the test pattern's colour bars.
    assert frames[0][0].std() > 30


def test_a_video_file_gives_the_frames_opencv_decodes(tmp_path) -> None:
    path, expected = _mjpeg_copy(tmp_path)
    source = GStreamerSource("f", f"filesrc location={path} ! decodebin")
    frames = _read_all(source)
    assert len(frames) == len(expected) == 75
    assert source.fps == 25.0
    diff = np.mean([np.abs(f.astype(int) - e.astype(int)).mean()
                    for (f, _), e in zip(frames, expected, strict=True)])
    assert diff < 3.0, diff  # same pictures (two JPEG decoders round differently)


def test_bad_pipelines_fail_clearly(tmp_path) -> None:
    with pytest.raises(SourceError, match="no element \"nosuchelement\""):
        GStreamerSource("b", "nosuchelement").open()
    with pytest.raises(SourceError, match="Resource not found|not found"):
        source = GStreamerSource("b", f"filesrc location={tmp_path}/missing.avi ! decodebin")
        source.open()
        source.read()
    with pytest.raises(SourceError, match="I420 frames.*format=BGR"):
        source = GStreamerSource("b", "videotestsrc num-buffers=2 ! video/x-raw,format=I420 "
                                 "! appsink")
        source.open()
        source.read()


def test_a_pipeline_captures_from_gstreamer(tmp_path, run_pipeline) -> None:
    path, _ = _mjpeg_copy(tmp_path)
    port = free_port()
    config = write_config(tmp_path, {
        "name": "t-gst",
        "sources": {
            "test": {"type": "gstreamer", "pipeline": "videotestsrc num-buffers=30 ! "
                     "video/x-raw,width=320,height=240,framerate=30/1"},
            "file": {"type": "gstreamer", "pipeline": f"filesrc location={path} ! decodebin"},
        },
        "stages": {"capture": {"type": "capture"},
                   "publish": {"type": "publish", "bind": f"tcp://127.0.0.1:{port}",
                               "wait_subscribers": 1}},
    })
    with EventSubscriber(f"tcp://127.0.0.1:{port}") as sub:
        run = run_pipeline(config)
        got = collect(sub, ["test", "file"], timeout_s=120)
        assert run.wait(60) == 0, run.log
    frames = {sid: [r for r in records if r["type"] == "frame_record"]
              for sid, records in got.items()}
    assert len(frames["test"]) == 30 and len(frames["file"]) == 75
    assert frames["test"][0]["shapes"]["image"] == [240, 320, 3]
    assert frames["file"][-1]["pts_ns"] == 74 * 40_000_000
    assert [r["seq"] for r in frames["file"]] == list(range(75))


def test_gstreamer_then_mediapipe_in_one_process() -> None:
    """A capture process may hold a GStreamer source and a synthetic one (which imports
    mediapipe, hence matplotlib): GStreamer first used to crash it (segfault)."""
    code = ("from pipeline.sources.gstreamer import import_gst; import_gst(); "
            "import mediapipe, matplotlib.pyplot; print('ok')")
    got = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert got.returncode == 0 and got.stdout.strip() == "ok", got.stderr[-2000:]
