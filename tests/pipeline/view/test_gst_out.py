"""``mestream view --no-page --gst-out``: a stream's annotated pictures (boxes, score
strip) pushed into a GStreamer pipeline that writes a file; the command ends with the
stream and the file holds the pictures."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.errors import SourceError
from pipeline.faces.images import video_frames
from pipeline.sources.gstreamer import import_gst
from pipeline.view.state import STRIP_PX
from tests.conftest import free_port
from tests.pipeline.view.conftest import view_config

try:
    import_gst()
    HAVE_GST = True
except SourceError:
    HAVE_GST = False


@pytest.mark.skipif(not HAVE_GST, reason="GStreamer / PyGObject not installed (make test "
                    "installs Debian's)")
def test_annotated_pictures_go_into_a_gstreamer_file(tmp_path, run_pipeline,
                                                     view_process) -> None:
    config = view_config(tmp_path, free_port())
    out = tmp_path / "cam.avi"
    view = view_process(config, "--no-page", "--gst-out",
                        f"cam=videoconvert ! jpegenc ! avimux ! filesink location={out}")
    # The view binds the preview endpoint and subscribes before the pipeline's publish
    # lets the first frame go (wait_subscribers: 1).
    run = run_pipeline(config)
    assert run.wait(120) == 0, run.log
    assert view.proc.wait(60) == 0, view.log
    assert "gst-out cam:" in view.log
    frames = video_frames(out)
    # 5 s at view.fps 10: most of 50 previews (the first come once align saw the view).
    assert len(frames) >= 30, len(frames)
    assert frames[0].shape == (240 + STRIP_PX, 320, 3)
    # The face box is drawn (green) on the pictures with a face.
    green = [(f[:240, :, 1].astype(int) - f[:240, :, 2] > 80).sum() for f in frames]
    assert np.median(green) > 100, green[:5]
