"""What flows between the stages, typed: a decoded :class:`Frame` (capture -> align),
an aligned :class:`Face` (align -> spot), a spotted :class:`Clip` (spot -> classify), an
:class:`Event` (classify or spot -> publish), and the stream's :class:`Watermark` and
:class:`EndOfStream` (every hop), each frozen, shape-checked, and mapped to and from its
wire :class:`~pipeline.runtime.wire.Message` here and nowhere else.

The wire format is unchanged (docs/protocol.md: the same buffer names and meta keys), so
a client written against the protocol reads these as before; inside the pipeline a stage
gets attributes with types instead of ``msg.meta.get("...")`` on a dict, and a message
whose buffers or keys do not make a face or a clip is refused in one place with a
:class:`~pipeline.errors.WireError` that names what is wrong.

Example:
    >>> import numpy as np
    >>> span = Span(1_000, 1_500, 2_000, 0.9, "micro", "learned")
    >>> clip = Clip("cam", 0, 1_500, 2, np.zeros((18, 64, 64), np.uint8),
    ...             np.zeros((18, 32, 32), np.uint8), np.zeros((18, 32, 32), np.uint8),
    ...             span, after_offset_ms=400.0, spot_emit_unix_ns=0, source_frames=9,
    ...             clip_start_ns=900, clip_end_ns=2_100, first_seq=10, last_seq=18)
    >>> back = Clip.from_message(clip.to_message())
    >>> back.span == span, back.first_seq, back.face.shape
    (True, 10, (18, 64, 64))
"""

from __future__ import annotations

from pipeline.messages.clip import Clip, Span
from pipeline.messages.event import Classification, Event
from pipeline.messages.face import Face
from pipeline.messages.frame import Frame
from pipeline.messages.stream import EndOfStream, Watermark

__all__ = ["Classification", "Clip", "EndOfStream", "Event", "Face", "Frame", "Span",
           "Watermark"]
