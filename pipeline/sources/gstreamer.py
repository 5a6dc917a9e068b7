"""Frames from a GStreamer pipeline (``type: gstreamer``), through PyGObject.

The YAML gives a ``gst-launch-1.0``-style pipeline description. If it ends in an
``appsink``, frames are pulled from that sink (its caps must be raw BGR or GRAY8);
otherwise ``! videoconvert ! video/x-raw,format=BGR ! appsink`` is appended. pts come
from the buffers (GStreamer's running time, ns), or frame index / fps where a buffer has
none. ``live: true`` for camera or network sources (the oldest frames drop under load,
the pipeline is rebuilt with backoff when it fails); ``false`` for files and
``videotestsrc`` (lossless, end of stream at EOS).

Install: Debian's ``python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0
gstreamer1.0-plugins-base gstreamer1.0-plugins-good`` (``make system-deps``). PyGObject
is not on PyPI as a wheel, so the system's ``gi`` package is used: when the venv cannot
import it, Debian's ``dist-packages`` folder is added at the END of ``sys.path`` (the
venv's own packages keep precedence) and the import is tried again.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import SourceError
from pipeline.sources.base import BadFrame

SYSTEM_PACKAGES = (Path("/usr/lib/python3/dist-packages"),)
INSTALL = ("sudo apt-get install python3-gi gir1.2-gstreamer-1.0 "
           "gir1.2-gst-plugins-base-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good")
APPSINK_TAIL = "videoconvert ! video/x-raw,format=BGR ! appsink name=mestream"
PULL_TIMEOUT_NS = 1_000_000_000
_CHANNELS = {"BGR": 3, "GRAY8": 1}


def import_gst() -> Any:
    """The ``Gst`` module, initialised; SourceError with the install line if missing."""
    # matplotlib's FreeType module must be loaded before GStreamer initialises: the other
    # way round, a later `import matplotlib.pyplot` (mediapipe does it: a synthetic source
    # in the same capture process, or the align stage) crashed the process with a
    # segmentation fault (measured: Debian 12's GStreamer 1.22, matplotlib 3.x wheel).
    try:
        importlib.import_module("matplotlib.ft2font")
    except ImportError:  # no matplotlib: nothing to clash with
        pass
    try:
        gi = importlib.import_module("gi")
    except ImportError:
        for folder in SYSTEM_PACKAGES:
            if (folder / "gi").is_dir() and str(folder) not in sys.path:
                sys.path.append(str(folder))
        try:
            gi = importlib.import_module("gi")
        except ImportError as exc:
            raise SourceError(f"GStreamer sources need PyGObject: {INSTALL}") from exc
    try:
        gi.require_version("Gst", "1.0")
        from gi.repository import Gst
    except (ValueError, ImportError) as exc:
        raise SourceError(f"GStreamer's introspection data is missing: {INSTALL}") from exc
    Gst.init(None)
    return Gst


def with_appsink(description: str) -> str:
    """The description, ending in an appsink (the standard BGR tail added if it
    does not)."""
    last = description.rsplit("!", 1)[-1].strip()
    if last.split(" ", 1)[0] == "appsink":
        return description
    return f"{description} ! {APPSINK_TAIL}"


class GStreamerSource:
    """A GStreamer pipeline's frames, pulled from its appsink."""

    def __init__(self, stream: str, description: str, live: bool = False,
                 fps: float | None = None):
        self.stream = stream
        self.description = with_appsink(description)
        self.live = live
        self.fps = fps
        self._gst: Any = None
        self._pipeline: Any = None
        self._sink: Any = None
        self._index = 0

    def open(self) -> None:
        gst = self._gst = import_gst()
        try:
            self._pipeline = gst.parse_launch(self.description)
        except Exception as exc:  # GLib.Error: a bad element or property
            raise SourceError(f"{self.stream}: GStreamer pipeline {self.description!r}: "
                              f"{exc}") from exc
        sinks = [e for e in self._iterate(self._pipeline)
                 if e.get_factory() is not None and e.get_factory().get_name() == "appsink"]
        if not sinks:
            raise SourceError(f"{self.stream}: the GStreamer pipeline has no appsink")
        self._sink = sinks[0]
        # Files: every frame, in order; live: keep only the newest few (the capture
        # stage's own queue drops the oldest on top).
        self._sink.set_property("sync", False)
        if self.live:
            self._sink.set_property("max-buffers", 2)
            self._sink.set_property("drop", True)
        if self._pipeline.set_state(gst.State.PLAYING) == gst.StateChangeReturn.FAILURE:
            error = self._bus_error()
            self.close()
            raise SourceError(f"{self.stream}: GStreamer pipeline failed to start"
                              + (f": {error}" if error else ""))
        self._index = 0

    @staticmethod
    def _iterate(bin_: Any) -> list[Any]:
        out: list[Any] = []
        it = bin_.iterate_recurse()
        while True:
            ok, element = it.next()
            if ok != 1:  # Gst.IteratorResult.OK
                return out
            out.append(element)

    def _bus_error(self) -> str | None:
        gst = self._gst
        bus = self._pipeline.get_bus() if self._pipeline is not None else None
        msg = bus.pop_filtered(gst.MessageType.ERROR) if bus is not None else None
        if msg is None:
            return None
        err, debug = msg.parse_error()
        return f"{err.message} ({debug.splitlines()[0] if debug else 'no detail'})"

    def _pull(self) -> Any:
        sample = self._sink.emit("try-pull-sample", PULL_TIMEOUT_NS)
        while sample is None:
            if self._sink.get_property("eos"):
                return None
            error = self._bus_error()
            if error is not None:
                self.close()  # to NULL now: GStreamer wants that before it is freed
                raise SourceError(f"{self.stream}: GStreamer: {error}")
            sample = self._sink.emit("try-pull-sample", PULL_TIMEOUT_NS)
        return sample

    def read(self) -> tuple[np.ndarray, int] | None:
        if self._sink is None:
            raise SourceError(f"{self.stream}: not open")
        sample = self._pull()
        if sample is None:
            return None
        caps = sample.get_caps().get_structure(0)
        fmt = caps.get_value("format")
        width, height = caps.get_value("width"), caps.get_value("height")
        if fmt not in _CHANNELS:
            self.close()
            raise SourceError(f"{self.stream}: the appsink gives {fmt} frames; end the "
                              "pipeline in `videoconvert ! video/x-raw,format=BGR ! "
                              "appsink` (or leave the appsink out: it is added)")
        if self.fps is None:
            ok, num, den = caps.get_fraction("framerate")
            self.fps = num / den if ok and num > 0 and den > 0 else None
        buf = sample.get_buffer()
        ok, info = buf.map(self._gst.MapFlags.READ)
        if not ok:
            raise BadFrame(f"{self.stream}: could not map a GStreamer buffer")
        try:
            channels = _CHANNELS[fmt]
            stride = len(info.data) // height
            if stride < width * channels:
                raise BadFrame(f"{self.stream}: a {len(info.data)}-byte buffer for "
                               f"{width}x{height} {fmt}")
            rows = np.frombuffer(info.data, np.uint8).reshape(height, stride)
            image = rows[:, :width * channels].reshape(height, width, channels).copy()
        finally:
            buf.unmap(info)
        if channels == 1:
            image = np.repeat(image, 3, axis=2)
        pts = buf.pts
        if pts is None or pts < 0 or pts >= self._gst.CLOCK_TIME_NONE:
            pts = round(self._index * 1e9 / (self.fps or 30.0))
        self._index += 1
        return image, int(pts)

    def skip(self) -> int | None:
        got = self.read()
        return None if got is None else got[1]

    def close(self) -> None:
        if self._pipeline is not None:
            self._pipeline.set_state(self._gst.State.NULL)
        self._pipeline = self._sink = None
