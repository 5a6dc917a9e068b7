"""The wire protocol: the only code in mestream that turns messages into bytes and back.

A message is a ZeroMQ multipart message ``[topic, header, *buffers]``:

- ``topic``: the stream id, UTF-8.
- ``header``: a msgpack map ``{v, kind, stream, seq, pts_ns, bufs, meta}`` (plus
  ``track`` for per-face kinds and ``epoch`` once a stream was re-read); ``bufs``
  lists, for each following part, its ``name``, ``dtype`` (numpy name, little-endian)
  and ``shape``.
- ``buffers``: raw C-contiguous array bytes, sent with ``copy=False`` and viewed on
  arrival with ``np.frombuffer`` (no copy). A buffer that lives in a shared-memory
  frame ring (``pipeline/runtime/frame_ring.py``: capture's frames, same host) sends no part:
  its ``bufs`` entry carries ``ring: [segment, slot, generation]`` and the receiver
  views it there.

``decode`` checks everything (version, kind, field types, buffer count, dtype, shape
against size) and raises :class:`WireError`; the stage runtime counts and drops such
messages. Nothing is ever pickled. ``docs/protocol.md`` is the language-neutral spec.

Example:
    >>> import numpy as np
    >>> msg = Message("frame", "cam0", 7, 280_000_000,
    ...               buffers={"image": np.zeros((4, 6, 3), np.uint8)})
    >>> back = decode(encode(msg))
    >>> (back.kind, back.stream, back.seq, back.buffers["image"].shape)
    ('frame', 'cam0', 7, (4, 6, 3))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgpack
import numpy as np

from pipeline.errors import WireError

if TYPE_CHECKING:
    from pipeline.runtime.frame_ring import FrameRingReader

VERSION = 1

FRAME = "frame"
FACE = "face"
CLIP = "clip"
EVENT = "event"
EOS = "eos"
HEARTBEAT = "heartbeat"
ACK = "ack"  # receiver -> sender: this stream's end-of-stream (and all before it) arrived
TRACK = "track"  # per-frame state of a face track (box, spotting score) for monitors
# "Everything this stream will still yield derives from source frames >= seq": sent by
# capture every few frames, lowered by each stage to the oldest frame it still holds,
# recorded by the last stage; where a stream is re-read from after a restart.
WATERMARK = "watermark"
KINDS = frozenset({FRAME, FACE, CLIP, EVENT, EOS, HEARTBEAT, ACK, TRACK, WATERMARK})

# Only plain numeric dtypes may cross the wire: an object dtype would need pickle.
DTYPES = frozenset(
    {"bool", "uint8", "int8", "uint16", "int16", "uint32", "int32", "uint64", "int64",
     "float16", "float32", "float64"}
)
MAX_BUFFERS = 64
MAX_NDIM = 8
MAX_STREAM_LEN = 256
MAX_HEADER_BYTES = 64 * 1024

# Buffers a kind must carry: name -> (allowed dtypes, allowed ndims).
REQUIRED_BUFFERS: dict[str, dict[str, tuple[frozenset[str], frozenset[int]]]] = {
    FRAME: {"image": (frozenset({"uint8"}), frozenset({2, 3}))},
    FACE: {
        "face": (frozenset({"uint8"}), frozenset({3})),        # (S, S, 3) aligned BGR
        "gray": (frozenset({"uint8"}), frozenset({2})),        # (S, S)
        "eyes": (frozenset({"uint8"}), frozenset({2})),        # (R, R) gray
        "mouth": (frozenset({"uint8"}), frozenset({2})),       # (R, R) gray
        "landmarks": (frozenset({"float32"}), frozenset({2})),  # (N, 2) image px
        "transform": (frozenset({"float32"}), frozenset({2})),  # (2, 3) image -> face
    },
    CLIP: {
        "face": (frozenset({"uint8"}), frozenset({3})),         # (T, S, S) gray faces
        "eyes": (frozenset({"uint8"}), frozenset({3})),         # (T, R, R)
        "mouth": (frozenset({"uint8"}), frozenset({3})),        # (T, R, R)
    },
}


@dataclass(slots=True)
class Message:
    """One unit on the wire.

    Attributes:
        kind: one of ``KINDS``.
        stream: the source's stream id (for heartbeats: the sender's name).
        seq: per-stream sequence number from the source, increasing by one a frame.
        pts_ns: presentation time in nanoseconds from the source, never the wall clock.
        buffers: named arrays, sent raw; any dtype in ``DTYPES``.
        meta: small JSON-like values (str, int, float, bool, None, lists, maps).
        track: the face track within the stream (face, clip and event messages); one
            frame may yield several faces with the same ``seq``, one per track.
        epoch: how many times the stream was re-read from an earlier frame after a
            stage restart (``docs/operations.md``); a stage that has seen epoch ``e``
            of a stream drops older epochs' messages. 0 (and left out of the header)
            until the first re-read.
    """

    kind: str
    stream: str
    seq: int
    pts_ns: int
    buffers: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    track: int | None = None
    epoch: int = 0
    # Buffers that live in a shared-memory frame ring: name -> (segment, slot,
    # generation). encode sends their place instead of their bytes; decode fills it
    # in, and the receiver releases the slots once the message is handled.
    shared: dict[str, tuple[str, int, int]] = field(default_factory=dict)


def encode(msg: Message) -> list[bytes | np.ndarray]:
    """Turn ``msg`` into multipart parts for ``socket.send_multipart(parts, copy=False)``.

    Arrays that are not C-contiguous are copied once to make them so; others go out
    as they are, so the caller must not modify them after sending.
    """
    if msg.kind not in KINDS:
        raise WireError(f"unknown kind {msg.kind!r}")
    arrays = []
    bufs: list[dict[str, Any]] = []
    for name, arr in msg.buffers.items():
        if arr.dtype.name not in DTYPES:
            raise WireError(f"buffer {name!r}: dtype {arr.dtype.name} cannot be sent")
        if arr.dtype.byteorder == ">":
            raise WireError(f"buffer {name!r}: big-endian arrays cannot be sent")
        spec: dict[str, Any] = {"name": name, "dtype": arr.dtype.name,
                                "shape": list(arr.shape)}
        ring = msg.shared.get(name)
        if ring is not None:  # the pixels stay in shared memory
            spec["ring"] = [ring[0], int(ring[1]), int(ring[2])]
        else:
            # reshape: ascontiguousarray turns a 0-d array into shape (1,)
            arrays.append(np.ascontiguousarray(arr).reshape(arr.shape))
        bufs.append(spec)
    header = {
        "v": VERSION,
        "kind": msg.kind,
        "stream": msg.stream,
        "seq": int(msg.seq),
        "pts_ns": int(msg.pts_ns),
        "bufs": bufs,
        "meta": msg.meta,
    }
    if msg.track is not None:
        header["track"] = int(msg.track)
    if msg.epoch:
        header["epoch"] = int(msg.epoch)
    return [msg.stream.encode(), msgpack.packb(header, use_bin_type=True), *arrays]


def _part_bytes(part: Any) -> bytes:
    if isinstance(part, bytes):
        return part
    if hasattr(part, "bytes"):  # zmq.Frame
        return part.bytes
    return bytes(part)


def _part_view(part: Any) -> memoryview:
    if hasattr(part, "buffer"):  # zmq.Frame: a view on the message, no copy
        return part.buffer
    return memoryview(part)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def decode(parts: Sequence[Any], rings: FrameRingReader | None = None) -> Message:
    """Parse multipart ``parts`` (``zmq.Frame`` or bytes) into a :class:`Message`.
    ``rings`` maps the shared-memory frame rings a buffer may name; without it such a
    message is refused.

    Raises:
        WireError: on any problem; the message says what was wrong.
    """
    if len(parts) < 2:
        raise WireError(f"expected at least 2 parts (topic, header), got {len(parts)}")
    raw = _part_bytes(parts[1])
    if len(raw) > MAX_HEADER_BYTES:
        raise WireError(f"header of {len(raw)} bytes exceeds {MAX_HEADER_BYTES}")
    try:
        header = msgpack.unpackb(raw, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises many types on garbage
        raise WireError(f"header is not msgpack: {exc}") from exc
    if not isinstance(header, dict):
        raise WireError(f"header must be a map, got {type(header).__name__}")
    if not _is_int(header.get("v")) or header.get("v") != VERSION:
        raise WireError(f"unsupported protocol version {header.get('v')!r}, want {VERSION}")
    kind = header.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:  # a list is unhashable: TypeError
        raise WireError(f"unknown kind {kind!r}")
    stream = header.get("stream")
    if not isinstance(stream, str) or not 0 < len(stream) <= MAX_STREAM_LEN:
        raise WireError(f"stream must be a non-empty string, got {stream!r}")
    try:
        topic = _part_bytes(parts[0]).decode()
    except UnicodeDecodeError as exc:
        raise WireError("topic is not UTF-8") from exc
    if topic != stream:
        raise WireError(f"topic {topic!r} does not match stream {stream!r}")
    seq, pts_ns = header.get("seq"), header.get("pts_ns")
    if not _is_int(seq) or seq < 0:
        raise WireError(f"seq must be a non-negative integer, got {seq!r}")
    if not _is_int(pts_ns):
        raise WireError(f"pts_ns must be an integer, got {pts_ns!r}")
    track = header.get("track")
    if track is not None and (not _is_int(track) or track < 0):
        raise WireError(f"track must be a non-negative integer, got {track!r}")
    epoch = header.get("epoch", 0)
    if not _is_int(epoch) or epoch < 0:
        raise WireError(f"epoch must be a non-negative integer, got {epoch!r}")
    meta = header.get("meta", {})
    if not isinstance(meta, dict):
        raise WireError(f"meta must be a map, got {type(meta).__name__}")
    specs = header.get("bufs")
    if not isinstance(specs, list) or len(specs) > MAX_BUFFERS:
        raise WireError(f"bufs must be a list of at most {MAX_BUFFERS} entries")
    inline = [s for s in specs if not (isinstance(s, dict) and "ring" in s)]
    if len(inline) != len(parts) - 2:
        raise WireError(f"header lists {len(inline)} inline buffers, message has "
                        f"{len(parts) - 2}")
    buffers: dict[str, np.ndarray] = {}
    shared: dict[str, tuple[str, int, int]] = {}
    payloads = iter(parts[2:])
    for spec in specs:
        if isinstance(spec, dict) and "ring" in spec:
            name, arr, where = _ring_buffer(spec, rings)
            shared[name] = where
        else:
            name, arr = _decode_buffer(spec, next(payloads))
        if name in buffers:
            raise WireError(f"buffer {name!r} appears twice")
        buffers[name] = arr
    for name, (dtypes, ndims) in REQUIRED_BUFFERS.get(kind, {}).items():
        arr = buffers.get(name)
        if arr is None:
            raise WireError(f"{kind} message lacks buffer {name!r}")
        if arr.dtype.name not in dtypes or arr.ndim not in ndims:
            raise WireError(
                f"{kind}.{name} must be {'/'.join(sorted(dtypes))} with ndim in "
                f"{sorted(ndims)}, got {arr.dtype.name} {arr.shape}"
            )
    return Message(kind, stream, seq, pts_ns, buffers, meta, track, epoch, shared)


def _check_spec(spec: Any) -> tuple[str, str, list[int]]:
    if not isinstance(spec, dict):
        raise WireError("each bufs entry must be a map")
    name, dtype, shape = spec.get("name"), spec.get("dtype"), spec.get("shape")
    if not isinstance(name, str) or not name:
        raise WireError(f"buffer name must be a non-empty string, got {name!r}")
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise WireError(f"buffer {name!r}: dtype {dtype!r} is not allowed")
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_NDIM
        or not all(_is_int(d) and d >= 0 for d in shape)
    ):
        raise WireError(f"buffer {name!r}: shape must be a list of sizes, got {shape!r}")
    return name, dtype, shape


def _ring_buffer(spec: dict[str, Any], rings: FrameRingReader | None
                 ) -> tuple[str, np.ndarray, tuple[str, int, int]]:
    name, dtype, shape = _check_spec(spec)
    ring = spec["ring"]
    if (not isinstance(ring, list) or len(ring) != 3 or not isinstance(ring[0], str)
            or not ring[0] or len(ring[0]) > MAX_STREAM_LEN
            or not all(_is_int(v) and v >= 0 for v in ring[1:])):
        raise WireError(f"buffer {name!r}: ring must be [segment, slot, generation], "
                        f"got {ring!r}")
    if rings is None:
        raise WireError(f"buffer {name!r} is in shared memory ({ring[0]}); this receiver "
                        "maps no frame rings")
    arr = rings.view(ring[0], ring[1], ring[2], shape, dtype)
    return name, arr, (ring[0], ring[1], ring[2])


def _decode_buffer(spec: Any, part: Any) -> tuple[str, np.ndarray]:
    name, dtype, shape = _check_spec(spec)
    dt = np.dtype(dtype).newbyteorder("<")
    view = _part_view(part)
    expected = math.prod(shape) * dt.itemsize
    if view.nbytes != expected:
        raise WireError(
            f"buffer {name!r}: {dtype} {shape} needs {expected} bytes, got {view.nbytes}"
        )
    return name, np.frombuffer(view, dtype=dt).reshape(shape)
