"""Previews for the live view, over real ZeroMQ sockets: nothing is encoded while no view
listens; with one, a stream gets ``fps`` previews a second of source time, with the boxes
of that frame; a malformed preview is refused; the view's picture draws the boxes and the
score strip from the records."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import zmq

from pipeline.view.preview import Preview, PreviewTap, encode_preview
from pipeline.view.state import STRIP_PX, ViewState
from tests.conftest import wait_until

FRAME = np.full((480, 640, 3), 120, np.uint8)


def test_a_preview_round_trips_and_garbage_is_refused() -> None:
    p = encode_preview("cam-1", 7, 700, FRAME, [(3, (100.0, 50.0, 300.0, 250.0))], 320, 70)
    assert (p.width, p.height) == (320, 240)
    assert p.faces[0].track == 3 and p.faces[0].box == (50.0, 25.0, 150.0, 125.0)
    back = Preview.from_parts(p.to_parts())
    assert back == p
    with pytest.raises(ValueError):
        Preview.from_parts([b"cam-1", b"{}", p.jpeg])          # no header fields
    with pytest.raises(ValueError):
        Preview.from_parts(p.to_parts()[:2])                   # no picture
    with pytest.raises(ValueError):
        Preview.from_parts([*p.to_parts()[:2], b"not a jpeg"])


def test_the_tap_sends_only_to_a_view_and_at_its_rate(zctx: zmq.Context) -> None:
    xpub = zctx.socket(zmq.XPUB)
    tap = PreviewTap(xpub, fps=5.0, width=320, quality=70)
    port = xpub.bind_to_random_port("tcp://127.0.0.1")
    # No view: nothing sent (nor encoded) however many frames come.
    assert not any(tap.offer("cam", i, i * 33_333_333, FRAME, []) for i in range(30))
    view = zctx.socket(zmq.SUB)
    view.setsockopt(zmq.SUBSCRIBE, b"")
    view.connect(f"tcp://127.0.0.1:{port}")
    wait_until(lambda: (tap.watch_viewers(), tap.viewers)[1] == 1, 10, "the view's "
               "subscription")
    # 2 s of a 30 fps stream: 5 previews a second = 10, the boxes of their frames.
    sent = [i for i in range(60)
            if tap.offer("cam", i, i * 33_333_333, FRAME, [(0, (10, 10, 90, 90))])]
    assert len(sent) == 10 and sent[:3] == [0, 6, 12]
    got = [Preview.from_parts(view.recv_multipart()) for _ in sent]
    assert [g.seq for g in got] == sent
    assert all(g.faces[0].box == (5.0, 5.0, 45.0, 45.0) for g in got)
    # A re-read stream (pts back to 0) starts its schedule again.
    assert tap.offer("cam", 0, 0, FRAME, [])


def test_the_view_draws_boxes_and_the_score_strip_from_records() -> None:
    state = ViewState()
    image = FRAME.copy()
    state.add_preview(encode_preview("cam", 30, 3_000_000_000, image,
                                     [(0, (200, 100, 400, 300))], 640, 90))
    for i in range(90):  # 3 s of scores, over the threshold at the end
        state.add_record({"type": "track", "stream": "cam", "track": 0, "seq": i,
                          "score": 0.9 if i > 80 else 0.1, "score_pts_ns": i * 33_333_333,
                          "threshold": 0.5})
    state.add_record({"type": "event", "stream": "cam", "kind": "micro",
                      "interval": {"onset_ns": 2_700_000_000, "offset_ns": 2_950_000_000}})
    state.add_record({"stream": 5})  # malformed: counted, ignored
    version, jpeg, pts = state.picture("cam")
    assert pts == 3_000_000_000
    picture = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape == (480 + STRIP_PX, 640, 3)
    # The box is red (score 0.9 over the threshold 0.5) on the frame's gray.
    b, g, r = picture[100, 300].astype(int)
    assert r > 180 and g < 100
    # The strip shades the event (near its right end: the last 10 s end at 3 s).
    strip = picture[480:]
    assert strip[:, 600:630].mean() > strip[:, 100:200].mean() + 20
    summary = state.summary()[0]
    assert summary["faces"] == 1 and summary["events"] == 1 and summary["threshold"] == 0.5
    assert state.malformed == 1
    assert state.picture("cam")[0] == version  # drawn once per preview
