"""Preview frames for the live view: what an align worker sends to ``mestream view``.

A preview is a stream's frame scaled to the view's width and JPEG-encoded, with the face
boxes the align worker found in that very frame (so the boxes never lag the picture).
On the wire: ``[topic = stream id, header JSON, JPEG bytes]``; the header is
:class:`Preview` without the picture. Align workers connect an XPUB socket to the address
``mestream view`` binds (YAML ``view.endpoint``): with no view connected, nothing is
encoded, and a slow view loses previews, never holds up the pipeline (non-blocking sends,
a small high-water mark).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import cv2
import numpy as np
import zmq

from pipeline.runtime.sockets import count_subscribers


@dataclass(frozen=True, slots=True)
class PreviewFace:
    """A face box of the preview, in preview pixels."""

    track: int
    box: tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class Preview:
    """One preview frame's header; ``jpeg`` travels as its own wire part."""

    stream: str
    seq: int
    pts_ns: int
    width: int
    height: int
    faces: tuple[PreviewFace, ...] = ()
    jpeg: bytes = field(default=b"", repr=False)

    def to_parts(self) -> list[bytes]:
        header = asdict(self)
        del header["jpeg"]
        return [self.stream.encode(), json.dumps(header).encode(), self.jpeg]

    @classmethod
    def from_parts(cls, parts: list[bytes]) -> Preview:
        """Raise ValueError for anything that is not a preview."""
        if len(parts) != 3:
            raise ValueError(f"a preview has 3 parts, got {len(parts)}")
        head = json.loads(parts[1])
        if not isinstance(head, dict):
            raise ValueError("a preview header is a JSON object")
        try:
            faces = tuple(PreviewFace(int(f["track"]), tuple(float(v) for v in f["box"]))
                          for f in head.get("faces", ()))
            preview = cls(str(head["stream"]), int(head["seq"]), int(head["pts_ns"]),
                          int(head["width"]), int(head["height"]), faces, bytes(parts[2]))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"bad preview header: {exc!r}") from exc
        if not preview.jpeg.startswith(b"\xff\xd8"):
            raise ValueError("the picture is not a JPEG")
        return preview


def encode_preview(stream: str, seq: int, pts_ns: int, image: np.ndarray,
                   boxes: list[tuple[int, Any]], width: int, quality: int) -> Preview:
    """``image`` (BGR or gray) scaled to ``width`` and encoded; ``boxes``: (track, image
    box x0, y0, x1, y1) in frame pixels."""
    h, w = image.shape[:2]
    scale = min(1.0, width / float(w))
    small = image if scale == 1.0 else cv2.resize(
        image, (max(1, round(w * scale)), max(1, round(h * scale))),
        interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    faces = tuple(PreviewFace(int(t), tuple(round(float(v) * scale, 1) for v in box))
                  for t, box in boxes)
    return Preview(stream, seq, pts_ns, small.shape[1], small.shape[0], faces, jpeg.tobytes())


SLACK_NS = 2_000_000
"""A frame this close before a preview's time is on time (30 fps pts in whole ns fall
a few ns short of a 200 ms schedule)."""


class PreviewTap:
    """An align worker's side of the view: offers every frame, sends ``fps`` of them a
    second of source time per stream, only while a view is subscribed."""

    def __init__(self, socket: zmq.Socket, fps: float, width: int, quality: int):
        self.socket = socket
        self.period_ns = int(1e9 / fps)
        self.width, self.quality = width, quality
        self.viewers = 0
        self.sent = 0
        self.dropped = 0
        self._next_ns: dict[str, int] = {}

    def watch_viewers(self) -> None:
        """Count views joining and leaving (XPUB subscription messages)."""
        self.viewers = count_subscribers(self.socket, self.viewers)

    def offer(self, stream: str, seq: int, pts_ns: int, image: np.ndarray,
              boxes: list[tuple[int, Any]]) -> bool:
        """Send a preview of this frame if one is due and a view listens."""
        self.watch_viewers()
        due = self._next_ns.get(stream)
        # Not yet due (pts rounded to the ns count as on time within SLACK_NS); a re-read
        # stream (pts back by more than a period) starts afresh.
        if self.viewers == 0 or (due is not None
                                 and due - self.period_ns <= pts_ns < due - SLACK_NS):
            return False
        on_schedule = due is not None and abs(pts_ns - due) < self.period_ns
        self._next_ns[stream] = (due if on_schedule else pts_ns) + self.period_ns
        preview = encode_preview(stream, seq, pts_ns, image, boxes, self.width, self.quality)
        try:
            self.socket.send_multipart(preview.to_parts(), flags=zmq.NOBLOCK)
        except zmq.Again:
            self.dropped += 1
            return False
        self.sent += 1
        return True

    def forget(self, stream: str) -> None:
        self._next_ns.pop(stream, None)
