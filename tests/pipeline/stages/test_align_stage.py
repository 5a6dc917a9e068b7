"""capture -> align (sharded over worker processes) -> publish on real faces."""

from __future__ import annotations

import re

import cv2
import numpy as np

from pipeline.client import EventSubscriber
from pipeline.messages import Face, Frame
from pipeline.runtime.wire import Message
from tests.conftest import GRID, free_port, grid_clip, write_config
from tests.pipeline.stages.test_capture_publish import collect

CLIPS = ["bbaf2n.mpg", "lbax4n.mpg", "swiz3n.mpg"]


def clip_path(name: str):
    return GRID / name if (GRID / name).exists() else grid_clip()


def test_every_grid_frame_yields_one_aligned_face_in_order_across_workers(tmp_path,
                                                                          run_pipeline):
    port = free_port()
    streams = [f"grid-{i}" for i in range(len(CLIPS))] + ["no-face"]
    sources = {s: {"type": "file", "path": str(clip_path(c)), "realtime": False}
               for s, c in zip(streams, CLIPS, strict=False)}
    # 40 frames of a test pattern: a video with no face in it.
    sources["no-face"] = {"type": "testpattern", "width": 320, "height": 240, "frames": 40,
                          "realtime": False}
    config = write_config(tmp_path, {
        "name": "t-align",
        "sources": sources,
        "stages": {"capture": {"type": "capture"},
                   "align": {"type": "align", "replicas": 2,
                             "tracking": {"detect_every": 5}},
                   "publish": {"type": "publish", "bind": f"tcp://127.0.0.1:{port}",
                               "wait_subscribers": 1}},
    })
    with EventSubscriber(f"tcp://127.0.0.1:{port}") as sub:
        run = run_pipeline(config)
        got = collect(sub, streams, timeout_s=120)
        assert run.wait(60) == 0, run.log

    for sid in streams[:-1]:
        faces = [r for r in got[sid] if r["type"] == "face"]
        # GRID clips: 75 frames, one frontal face in every one (faces.md: all backends agree)
        assert [r["seq"] for r in faces] == list(range(75)), sid
        assert {r["track"] for r in faces} == {0}, "one person keeps one track id"
        assert all(r["pts_ns"] == r["seq"] * 40_000_000 for r in faces)
        first = faces[0]
        assert first["shapes"]["face"] == [128, 128, 3]
        assert first["shapes"]["eyes"] == [32, 32] and first["shapes"]["mouth"] == [32, 32]
        assert first["shapes"]["landmarks"] == [478, 2]
        assert first["scheme"] == "mediapipe478"
        x0, y0, x1, y1 = first["box"]
        assert 60 < x1 - x0 < 200 and 60 < y1 - y0 < 220, first["box"]  # a ~110 px face
        assert first["quality"]["score"] > 0.5
        assert abs(first["quality"]["roll_deg"]) < 15
    # No face: nothing but its end of stream, and every frame counted as no_face.
    assert [r["type"] for r in got["no-face"]] == ["end_of_stream"]
    log = run.log
    lines = [ln for ln in log.splitlines() if "finished: every stream ended: align." in ln]
    assert len(lines) == 2, "both align workers finished"
    assert any(re.search(r"no-face in=41 out=1 drop=40", ln) for ln in lines), lines
    # The streams were spread over both workers (round-robin in source order).
    workers = [set(re.findall(r"(grid-\d|no-face) in=", ln)) for ln in lines]
    assert all(workers) and not workers[0] & workers[1], workers


def test_face_messages_carry_aligned_crops_that_a_client_can_read(tmp_path, zctx):
    """`mestream stage capture` and `mestream stage align` on their own (as on separate
    hosts), feeding a plain ZeroMQ ROUTER written from docs/protocol.md: the face
    messages decode to aligned images with eye and mouth crops."""
    import subprocess

    import zmq

    from pipeline.runtime import wire
    from pipeline.runtime.sockets import open_socket
    from tests.conftest import REPO, mestream

    endpoint = f"ipc://{tmp_path}/sink.ipc"
    config = write_config(tmp_path, {
        "name": "t-align-sink",
        "sources": {"grid": {"type": "file", "path": str(grid_clip()), "realtime": False}},
        "stages": {"capture": {"type": "capture"},
                   "align": {"type": "align"},
                   "sink": {"type": "publish", "endpoint": endpoint}},
    })
    faces: list[wire.Message] = []
    procs = []
    try:
        with open_socket(zctx, zmq.ROUTER, endpoint, bind=True, linger_ms=0) as sink:
            for stage in ("align", "capture"):
                procs.append(subprocess.Popen(mestream("stage", stage, "--config", str(config)),
                                              cwd=REPO, stderr=subprocess.DEVNULL))
            while True:
                assert sink.poll(120_000), "nothing arrived from align"
                peer, *parts = sink.recv_multipart(copy=False)
                msg = wire.decode(parts)
                if msg.kind == wire.FACE:
                    faces.append(msg)
                elif msg.kind == wire.EOS:  # ack it, so align may finish and exit
                    sink.send_multipart([peer.bytes, *wire.encode(
                        wire.Message(wire.ACK, msg.stream, msg.seq, msg.pts_ns))])
                    break
            assert [p.wait(timeout=60) for p in procs] == [0, 0]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [f.seq for f in faces] == list(range(75))
    f = faces[10]
    assert f.track == 0 and f.buffers["transform"].shape == (2, 3)
    gray = f.buffers["gray"].astype(np.float32)
    assert np.array_equal(gray, cv2.cvtColor(f.buffers["face"], cv2.COLOR_BGR2GRAY))
    # The aligned face is a face: the eye band is darker than the cheeks below it.
    eyes_band = gray[40:60, 30:98].mean()
    cheeks = gray[70:85, 30:98].mean()
    assert eyes_band < cheeks, (eyes_band, cheeks)
    assert f.buffers["eyes"].std() > 10 and f.buffers["mouth"].std() > 10


def test_the_align_stage_sends_a_face_per_person_and_counts_faces_too_small(
        tmp_path, stage_in_process) -> None:
    """Driven in this process: a wide frame of three GRID speakers gives three face
    messages per frame (default max_faces 4, tiles for a wide frame); with min_face_px
    above their size the same frame gives none, and each detection pass that saw them
    counts a face_too_small drop."""
    frames = [cv2.VideoCapture(str(clip_path(n))) for n in ("bbaf2n", "lwbsza", "swiz3n")]
    shot = np.hstack([cv2.resize(c.read()[1], (427, 480)) for c in frames])
    for c in frames:
        c.release()

    def align(min_face_px: int) -> tuple[list[list[Message]], dict]:
        stage = stage_in_process({
            "name": f"t-align-{min_face_px}",
            "sources": {"cam": {"type": "testpattern", "frames": 1}},
            "stages": {"capture": {"type": "capture"},
                       "align": {"type": "align",
                                 "tracking": {"min_face_px": min_face_px}},
                       "publish": {"type": "publish", "bind": "tcp://127.0.0.1:1"}},
        }, "align")
        out = [list(stage.process(Frame("cam", i, i * 40_000_000, shot).to_message()))
               for i in range(3)]
        return out, stage.ctx.metrics.snapshot()["streams"].get("cam", {"dropped": {}})

    out, counts = align(64)
    faces = [[Face.from_message(m) for m in per_frame] for per_frame in out]
    assert [len(f) for f in faces] == [3, 3, 3]
    assert sorted(f.track for f in faces[-1]) == [0, 1, 2]
    assert "face_too_small" not in counts["dropped"]
    out, counts = align(400)
    assert out == [[], [], []]
    assert counts["dropped"]["face_too_small"] >= 1


def test_the_fast_mesh_from_the_yaml_gives_the_refined_scheme(stage_in_process) -> None:
    """``tracking.mesh: fast`` reaches the landmarker: every face message of a GRID clip
    carries 478 points in the refined mesh's scheme, the face box on the speaker."""
    capture = cv2.VideoCapture(str(clip_path("bbaf2n")))
    frames = [capture.read()[1] for _ in range(8)]
    capture.release()
    stage = stage_in_process({
        "name": "t-align-fast",
        "sources": {"cam": {"type": "testpattern", "frames": 1}},
        "stages": {"capture": {"type": "capture"},
                   "align": {"type": "align", "tracking": {"mesh": "fast"}},
                   "publish": {"type": "publish", "bind": "tcp://127.0.0.1:1"}},
    }, "align")
    faces = [Face.from_message(m) for i, f in enumerate(frames)
             for m in stage.process(Frame("cam", i, i * 40_000_000, f).to_message())]
    assert len(faces) == 8
    assert {f.scheme for f in faces} == {"mediapipe478"}
    assert all(f.landmarks.shape == (478, 2) for f in faces)
    x0, y0, x1, y1 = faces[-1].box
    assert 80 < x1 - x0 < 200 and 100 < (x0 + x1) / 2 < 260
