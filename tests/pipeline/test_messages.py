"""The typed stage messages: frames, faces, clips, events, watermarks and ends of
stream cross the wire unchanged (same buffer names and meta keys as docs/protocol.md),
and parts that do not make one are refused with an error naming what is wrong."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.errors import WireError
from pipeline.messages import (
    Classification,
    Clip,
    EndOfStream,
    Event,
    Face,
    Frame,
    Span,
    Watermark,
)
from pipeline.runtime import wire


def a_face() -> Face:
    rng = np.random.default_rng(0)
    return Face("cam", 7, 280_000_000, 2,
                rng.integers(0, 255, (128, 128, 3), dtype=np.uint8),
                rng.integers(0, 255, (128, 128), dtype=np.uint8),
                rng.integers(0, 255, (32, 32), dtype=np.uint8),
                rng.integers(0, 255, (32, 32), dtype=np.uint8),
                rng.normal(size=(478, 2)).astype(np.float32),
                np.eye(2, 3, dtype=np.float32), "mediapipe478", (10.0, 20.0, 110.0, 140.0),
                240_000_000, {"score": 0.9, "blur": 120.0}, (480, 640))


def a_clip() -> Clip:
    rng = np.random.default_rng(1)
    return Clip("cam", 3, 1_500, 2, rng.integers(0, 255, (18, 64, 64), dtype=np.uint8),
                rng.integers(0, 255, (18, 32, 32), dtype=np.uint8),
                rng.integers(0, 255, (18, 32, 32), dtype=np.uint8),
                Span(1_000, 1_500, 2_000, 0.93, "micro", "learned"), 420.0, 5, 12, 900,
                2_100, 40, 52)


def over_the_wire(msg: wire.Message) -> wire.Message:
    return wire.decode([bytes(memoryview(p)) for p in wire.encode(msg)])


def test_a_face_and_a_clip_cross_the_wire_unchanged() -> None:
    face = a_face()
    msg = over_the_wire(face.to_message())
    assert msg.kind == wire.FACE and msg.track == 2
    assert set(msg.buffers) == {"face", "gray", "eyes", "mouth", "landmarks", "transform"}
    assert set(msg.meta) == {"scheme", "box", "anchor_pts_ns", "quality", "frame_shape"}
    back = Face.from_message(msg)
    for name in ("face", "gray", "eyes", "mouth", "landmarks", "transform"):
        np.testing.assert_array_equal(getattr(back, name), getattr(face, name))
    assert (back.box, back.frame_shape, back.quality) == (face.box, (480, 640), face.quality)

    clip = a_clip()
    msg = over_the_wire(clip.to_message())
    assert msg.kind == wire.CLIP and msg.meta["first_seq"] == 40
    assert {"onset_ns", "apex_ns", "offset_ns", "score", "kind", "spotter", "resample",
            "source_frames", "clip_start_ns", "clip_end_ns", "first_seq", "last_seq",
            "after_offset_ms", "spot_emit_unix_ns"} == set(msg.meta)
    back = Clip.from_message(msg)
    assert back.span == clip.span and back.last_seq == 52
    np.testing.assert_array_equal(back.face, clip.face)


def test_a_clip_from_another_producer_needs_only_its_frames_and_interval() -> None:
    msg = a_clip().to_message()
    msg.meta = {k: msg.meta[k] for k in ("onset_ns", "apex_ns", "offset_ns")}
    clip = Clip.from_message(msg)
    assert clip.first_seq is None and clip.span.score is None and clip.after_offset_ms is None


@pytest.mark.parametrize(("change", "error"), [
    (lambda m: m.buffers.pop("mouth"), "no 'mouth' buffer"),
    (lambda m: m.buffers.update(face=m.buffers["face"].astype(np.float32)),
     "'face' is float32"),
    (lambda m: m.buffers.update(eyes=m.buffers["eyes"][:5]), "hold 18, 5 and 18 frames"),
    (lambda m: m.meta.pop("apex_ns"), "'apex_ns' must be an integer"),
    (lambda m: m.meta.update(onset_ns=5_000), "onset_ns 5000 after offset_ns 2000"),
    (lambda m: m.meta.update(first_seq="40"), "'first_seq' must be an integer"),
    (lambda m: setattr(m, "track", None), "has no track"),
])
def test_parts_that_do_not_make_a_clip_are_refused_by_name(change, error) -> None:
    msg = a_clip().to_message()
    change(msg)
    with pytest.raises(WireError, match=error):
        Clip.from_message(msg)


def test_a_face_with_a_wrong_transform_is_refused() -> None:
    msg = a_face().to_message()
    msg.buffers["transform"] = np.eye(3, dtype=np.float32)
    with pytest.raises(WireError, match=r"transform \[3, 3\]"):
        Face.from_message(msg)


def test_a_frame_a_watermark_and_an_end_cross_the_wire_unchanged() -> None:
    image = np.arange(48 * 64 * 3, dtype=np.uint8).reshape(48, 64, 3)
    frame = Frame.from_message(over_the_wire(Frame("cam", 4, 160, image, 25.0, 2).to_message()))
    assert (frame.stream, frame.seq, frame.pts_ns, frame.fps, frame.epoch) == (
        "cam", 4, 160, 25.0, 2)
    assert np.array_equal(frame.image, image)
    mark = Watermark.from_message(over_the_wire(Watermark("cam", 10, 400, 1).to_message()))
    assert mark == Watermark("cam", 10, 400, 1)
    end = EndOfStream("cam", 75, 2_960, "end-of-file", epoch=1)
    assert EndOfStream.from_message(over_the_wire(end.to_message())) == end
    failed = end.failing("spot", ValueError("boom"))
    back = EndOfStream.from_message(over_the_wire(failed.to_message()))
    assert back.failed == "spot: ValueError('boom')" and back.reason == "end-of-file"


@pytest.mark.parametrize("image", [np.zeros((4, 4, 3), np.float32),
                                   np.zeros((4, 4, 4), np.uint8),
                                   np.zeros((0, 4, 3), np.uint8)])
def test_an_image_that_is_not_a_frame_is_refused(image) -> None:
    msg = wire.Message(wire.FRAME, "cam", 0, 0, {"image": image})
    with pytest.raises(WireError, match="frame message: image"):
        Frame.from_message(msg)
    with pytest.raises(WireError, match="no 'image' buffer"):
        Frame.from_message(wire.Message(wire.FRAME, "cam", 0, 0, {"pixels": image}))


def test_classified_and_spotting_only_events_keep_their_documented_layouts() -> None:
    span = Span(1_000, 1_500, 2_000, 0.93, "micro", "learned")
    c = Classification("negative", {"negative": 0.9, "positive": 0.1}, {"AU4": 0.8},
                       "negative", None, {"id": "m.onnx"}, {"infer": 2.0}, 7, 8)
    msg = over_the_wire(Event("cam", 1, 1_500, 0, span, c, spot_emit_unix_ns=6).to_message())
    assert msg.meta["interval"] == {"onset_ns": 1_000, "apex_ns": 1_500, "offset_ns": 2_000}
    assert (msg.meta["label"], msg.meta["spot_score"], msg.meta["kind"]) == (
        "negative", 0.93, "micro")
    event = Event.from_message(msg)
    assert event.span == span and event.classification == c and event.label == "negative"
    only = over_the_wire(Event("cam", 2, 1_500, 0, span, after_offset_ms=400.0,
                               note="spotting only").to_message())
    assert only.meta["label"] is None and only.meta["onset_ns"] == 1_000
    assert Event.from_message(only).classification is None
    no_label = wire.Message(wire.EVENT, "cam", 1, 0, meta={**msg.meta, "label": None},
                            track=0)
    with pytest.raises(WireError, match="without a label"):
        Event.from_message(no_label)
    with pytest.raises(WireError, match="expected a event message, got a watermark"):
        Event.from_message(Watermark("cam", 1, 0).to_message())
