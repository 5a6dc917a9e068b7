"""The wire protocol: every kind round-trips; garbage never escapes as anything but
WireError; arrays arrive without a copy over a real socket."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest
import zmq
from hypothesis import given, settings
from hypothesis import strategies as st

from bench import fuzz
from pipeline.errors import WireError
from pipeline.runtime import wire
from pipeline.runtime.sockets import open_socket
from pipeline.runtime.wire import Message, decode, encode


def sample(kind: str) -> Message:
    rng = np.random.default_rng(0)
    buffers = {
        wire.FRAME: {"image": rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)},
        wire.FACE: {"face": rng.integers(0, 255, (128, 128, 3), dtype=np.uint8),
                    "gray": np.zeros((128, 128), np.uint8),
                    "eyes": np.zeros((32, 32), np.uint8),
                    "mouth": np.zeros((32, 32), np.uint8),
                    "landmarks": rng.random((478, 2)).astype(np.float32),
                    "transform": np.eye(2, 3, dtype=np.float32)},
        wire.CLIP: {"face": rng.integers(0, 255, (18, 64, 64), dtype=np.uint8),
                    "eyes": np.zeros((18, 32, 32), np.uint8),
                    "mouth": np.zeros((18, 32, 32), np.uint8)},
        wire.EVENT: {},
        wire.EOS: {},
        wire.HEARTBEAT: {},
        wire.ACK: {},
        wire.TRACK: {},
        wire.WATERMARK: {},
    }[kind]
    meta = {"label": "surprise", "probs": [0.1, 0.2, 0.7], "nested": {"a": None}}
    track = 3 if kind in (wire.FACE, wire.CLIP, wire.EVENT, wire.TRACK) else None
    return Message(kind, "cam-0", 41, 1_640_000_000, buffers, meta, track)


@pytest.mark.parametrize("kind", sorted(wire.KINDS))
def test_every_kind_round_trips(kind: str) -> None:
    msg = sample(kind)
    back = decode(encode(msg))
    assert (back.kind, back.stream, back.seq, back.pts_ns, back.meta, back.track) == (
        msg.kind, msg.stream, msg.seq, msg.pts_ns, msg.meta, msg.track)
    assert list(back.buffers) == list(msg.buffers)
    for name, arr in msg.buffers.items():
        assert back.buffers[name].dtype == arr.dtype
        np.testing.assert_array_equal(back.buffers[name], arr)


def test_the_epoch_of_a_re_read_stream_crosses_the_wire_and_is_left_out_at_zero() -> None:
    again = decode(encode(Message(wire.FRAME, "s", 5, 0, sample(wire.FRAME).buffers,
                                  epoch=2)))
    assert again.epoch == 2
    _, header, *_ = encode(sample(wire.FRAME))
    assert "epoch" not in msgpack.unpackb(header)  # version-1 peers see no new field
    assert decode(encode(sample(wire.FRAME))).epoch == 0


def test_non_contiguous_arrays_are_sent_contiguously() -> None:
    image = np.arange(6 * 8 * 3, dtype=np.uint8).reshape(6, 8, 3)[:, ::2]
    back = decode(encode(Message(wire.FRAME, "s", 0, 0, {"image": image})))
    np.testing.assert_array_equal(back.buffers["image"], image)


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda h, p: h.update(v=2), "version"),
        (lambda h, p: h.update(kind="video"), "unknown kind"),
        (lambda h, p: h.update(stream=""), "stream"),
        (lambda h, p: h.update(seq=-1), "seq"),
        (lambda h, p: h.update(seq=True), "seq"),
        (lambda h, p: h.update(pts_ns="1"), "pts_ns"),
        (lambda h, p: h["bufs"][0].update(dtype="object"), "dtype"),
        (lambda h, p: h["bufs"][0].update(shape=[48, 64, 4]), "bytes"),
        (lambda h, p: h["bufs"][0].update(shape=[48, -64, 3]), "shape"),
        (lambda h, p: h["bufs"][0].update(name="pixels"), "lacks buffer 'image'"),
        (lambda h, p: p.pop(), "buffers"),
        (lambda h, p: h.update(meta=[1]), "meta"),
        (lambda h, p: h.update(stream="other"), "topic"),
        (lambda h, p: h.update(epoch=-1), "epoch"),
        (lambda h, p: h.update(epoch="1"), "epoch"),
    ],
)
def test_decode_names_what_is_wrong(mutate, error: str) -> None:
    topic, header, *bufs = encode(sample(wire.FRAME))
    head = msgpack.unpackb(header)
    parts = [topic, b"", *[bytes(b) for b in bufs]]
    mutate(head, parts)
    parts[1] = msgpack.packb(head)
    with pytest.raises(WireError, match=error):
        decode(parts)


def test_frame_must_be_uint8_image() -> None:
    msg = Message(wire.FRAME, "s", 0, 0, {"image": np.zeros((4, 4, 3), np.float32)})
    with pytest.raises(WireError, match="frame.image must be uint8"):
        decode(encode(msg))


def test_object_arrays_cannot_be_sent() -> None:
    with pytest.raises(WireError, match="cannot be sent"):
        encode(Message(wire.CLIP, "s", 0, 0, {"x": np.array([object()])}))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), min_size=0, max_size=5))
def test_random_bytes_never_escape_decode(parts: list[bytes]) -> None:
    try:
        decode(parts)
    except WireError:
        pass


json_like = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats() | st.text(max_size=8)
    | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(header=st.dictionaries(
    st.sampled_from(["v", "kind", "stream", "seq", "pts_ns", "bufs", "meta", "x"]),
    json_like, max_size=8),
    payloads=st.lists(st.binary(max_size=32), max_size=3))
def test_random_headers_never_escape_decode(header: dict, payloads: list[bytes]) -> None:
    try:
        decode([b"cam", msgpack.packb(header), *payloads])
    except WireError:
        pass


def test_arrays_arrive_without_a_copy_over_a_real_socket(tmp_path, zctx) -> None:
    address = f"ipc://{tmp_path}/wire.ipc"
    with open_socket(zctx, zmq.PULL, address, bind=True, linger_ms=0) as pull, \
         open_socket(zctx, zmq.PUSH, address, bind=False, linger_ms=0) as push:
        msg = sample(wire.FRAME)
        push.send_multipart(encode(msg), copy=False)
        assert pull.poll(5000), "nothing arrived"
        parts = pull.recv_multipart(copy=False)
        back = decode(parts)
        image = back.buffers["image"]
        np.testing.assert_array_equal(image, msg.buffers["image"])
        # The array is a view on the ZeroMQ message, not a copy of it.
        assert not image.flags.owndata
        assert np.shares_memory(image, np.frombuffer(parts[2].buffer, np.uint8))


@settings(max_examples=300, deadline=None, database=None)
@given(case=fuzz.strategies()["decode"])
def test_fuzzed_frames_give_a_message_or_a_wire_error(case) -> None:
    """The CI share of bench/fuzz.py (the benchmark runs >= 100,000):
    random parts, random headers, valid messages with one part mutated (a list where a
    kind belongs once escaped as TypeError), and valid messages that must round-trip."""
    fuzz.check_decode(case)


def test_a_0d_array_keeps_its_shape_across_the_wire() -> None:
    msg = Message(wire.EVENT, "cam", 0, 0, {"x": np.float32(1.5) * np.ones((), np.float32)})
    back = decode([p if isinstance(p, bytes) else p.tobytes() for p in encode(msg)])
    assert back.buffers["x"].shape == () and back.buffers["x"] == 1.5


@pytest.mark.parametrize("version", [0, 2, "1", None, 1.0])
def test_a_wrong_protocol_version_is_refused(version) -> None:
    parts = encode(sample(wire.EVENT))
    header = msgpack.unpackb(parts[1])
    header["v"] = version
    with pytest.raises(WireError, match="unsupported protocol version"):
        decode([parts[0], msgpack.packb(header), *parts[2:]])
