"""The live view's pictures into a GStreamer pipeline (``mestream view --gst-out``).

Each new annotated picture of a stream (its preview with the boxes and the score strip,
:mod:`pipeline.view.state`) is pushed into ``appsrc ! <your pipeline>`` with the
preview's pts: record it (``videoconvert ! vp8enc ! webmmux ! filesink location=cam.webm``),
stream it (``... ! rtspclientsink``), or show it (``videoconvert ! autovideosink``).
The caps are BGR at the first picture's size and ``view.fps``; a picture of another size
is scaled to it. Needs Debian's GStreamer and PyGObject (:mod:`pipeline.sources.gstreamer`).
"""

from __future__ import annotations

import threading
import time
from fractions import Fraction
from typing import Any

import cv2
import numpy as np

from pipeline.errors import SourceError
from pipeline.sources.gstreamer import import_gst
from pipeline.view.state import ViewState

EOS_WAIT_S = 10.0


class GStreamerSink:
    """``appsrc ! description``, fed BGR frames with their pts."""

    def __init__(self, description: str, fps: float):
        self.description = description
        self.fps = fps
        self.frames = 0
        self._gst: Any = None
        self._pipeline: Any = None
        self._src: Any = None
        self._size: tuple[int, int] | None = None

    def _start(self, width: int, height: int) -> None:
        gst = self._gst = import_gst()
        rate = Fraction(self.fps).limit_denominator(1000)
        try:
            self._pipeline = gst.parse_launch(
                f"appsrc name=mestream_view format=time ! {self.description}")
        except Exception as exc:  # GLib.Error
            raise SourceError(f"GStreamer sink {self.description!r}: {exc}") from exc
        self._src = self._pipeline.get_by_name("mestream_view")
        self._src.set_property("caps", gst.Caps.from_string(
            f"video/x-raw,format=BGR,width={width},height={height},"
            f"framerate={rate.numerator}/{rate.denominator}"))
        if self._pipeline.set_state(gst.State.PLAYING) == gst.StateChangeReturn.FAILURE:
            self._pipeline.set_state(gst.State.NULL)
            raise SourceError(f"GStreamer sink {self.description!r} failed to start")
        self._size = (width, height)

    def push(self, image: np.ndarray, pts_ns: int) -> None:
        if self._size is None:
            self._start(image.shape[1], image.shape[0])
        assert self._size is not None
        if (image.shape[1], image.shape[0]) != self._size:
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
        gst = self._gst
        buf = gst.Buffer.new_wrapped(np.ascontiguousarray(image).tobytes())
        buf.pts = int(pts_ns)
        buf.duration = int(1e9 / self.fps)
        if self._src.emit("push-buffer", buf) != gst.FlowReturn.OK:
            raise SourceError(f"GStreamer sink {self.description!r} refused a frame")
        self.frames += 1

    def finish(self) -> None:
        """End of stream, wait until the pipeline has written it, stop."""
        if self._pipeline is None:
            return
        gst = self._gst
        self._src.emit("end-of-stream")
        bus = self._pipeline.get_bus()
        bus.timed_pop_filtered(int(EOS_WAIT_S * 1e9),
                               gst.MessageType.EOS | gst.MessageType.ERROR)
        self._pipeline.set_state(gst.State.NULL)
        self._pipeline = self._src = None


class SinkFeeder(threading.Thread):
    """Pushes each new picture of ``stream`` into ``sink`` until stopped or the stream
    ended (an ``end_of_stream`` record after its last preview)."""

    def __init__(self, state: ViewState, stream: str, sink: GStreamerSink):
        super().__init__(name=f"gst-out-{stream}", daemon=True)
        self.state, self.stream, self.sink = state, stream, sink
        self.error: Exception | None = None
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        last = -1
        try:
            while not self._halt.is_set():
                got = self.state.picture(self.stream)
                if got is not None and got.version != last:
                    last = got.version
                    image = cv2.imdecode(np.frombuffer(got.jpeg, np.uint8), cv2.IMREAD_COLOR)
                    self.sink.push(image, got.pts_ns)
                elif self.state.ended(self.stream):
                    break
                else:
                    time.sleep(0.02)
        except Exception as exc:  # reported by the command; the view goes on
            self.error = exc
        finally:
            self.sink.finish()
