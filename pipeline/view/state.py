"""What the live view knows of each stream, and the annotated picture it serves.

Fed from two ZeroMQ inputs (:mod:`pipeline.view.server`): the align workers' previews
(frame + the boxes found in it) and the publish stage's records, the same any subscriber
gets: ``track`` records (each face's spotting score, with the pts of the frame it scores
and the spotter's threshold) and ``event`` records. The picture of a stream is its newest
preview with the boxes (red while the face's score is over the threshold), the track id
and score, and a strip under it: the score over the last ``strip_s`` seconds of source
time against the threshold, spotted events shaded. Drawn once per new preview.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import cv2
import numpy as np

from pipeline.view.preview import Preview

STRIP_PX = 70
MICRO = (40, 40, 230)      # BGR: red for micro-expressions and a face over threshold
MACRO = (160, 160, 160)
FACE = (80, 200, 80)


@dataclass
class StreamView:
    """One stream's latest picture and recent analysis."""

    preview: Preview | None = None
    version: int = 0
    scores: deque[tuple[int, float]] = field(default_factory=lambda: deque(maxlen=2000))
    track_scores: dict[int, float] = field(default_factory=dict)
    threshold: float | None = None
    events: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=50))
    ended: bool = False
    records: int = 0
    picture: bytes = b""
    picture_version: int = -1


class Picture(NamedTuple):
    version: int
    jpeg: bytes
    pts_ns: int
    """pts of the frame it shows."""


def _interval(event: dict[str, Any]) -> tuple[int, int] | None:
    """(onset, offset) pts ns of an event record (classified events nest ``interval``,
    spotting-only ones carry the keys flat)."""
    iv = event.get("interval") if isinstance(event.get("interval"), dict) else event
    try:
        return int(iv["onset_ns"]), int(iv["offset_ns"])
    except (KeyError, TypeError, ValueError):
        return None


class ViewState:
    """Thread-safe: the receiver thread adds, the web server's tasks read."""

    def __init__(self, strip_s: float = 10.0, max_events: int = 500):
        self.strip_ns = int(strip_s * 1e9)
        self._lock = threading.Lock()
        self.streams: dict[str, StreamView] = {}
        self.events: deque[tuple[int, dict[str, Any]]] = deque(maxlen=max_events)
        self.event_count = 0
        self.malformed = 0

    def _stream(self, sid: str) -> StreamView:
        view = self.streams.get(sid)
        if view is None:
            view = self.streams[sid] = StreamView()
        return view

    def add_preview(self, preview: Preview) -> None:
        with self._lock:
            view = self._stream(preview.stream)
            view.preview = preview
            view.version += 1
            view.ended = False

    def add_record(self, record: dict[str, Any]) -> None:
        sid = record.get("stream")
        if not isinstance(sid, str):
            self.malformed += 1
            return
        kind = record.get("type")
        with self._lock:
            view = self._stream(sid)
            view.records += 1
            if kind == "track":
                score, at = record.get("score"), record.get("score_pts_ns")
                if isinstance(score, int | float) and isinstance(at, int):
                    view.scores.append((at, float(score)))
                    view.track_scores[int(record.get("track") or 0)] = float(score)
                if isinstance(record.get("threshold"), int | float):
                    view.threshold = float(record["threshold"])
            elif kind == "event":
                view.events.append(record)
                self.event_count += 1
                self.events.append((self.event_count, record))
            elif kind == "end_of_stream":
                view.ended = True

    def events_after(self, count: int) -> list[tuple[int, dict[str, Any]]]:
        """Events numbered above ``count`` (1-based, in arrival order) still kept."""
        with self._lock:
            return [(n, e) for n, e in self.events if n > count]

    def summary(self) -> list[dict[str, Any]]:
        """Per stream: what the page lists (and a test reads)."""
        with self._lock:
            out = []
            for sid in sorted(self.streams):
                v = self.streams[sid]
                p = v.preview
                out.append({"stream": sid, "seq": None if p is None else p.seq,
                            "pts_ns": None if p is None else p.pts_ns,
                            "faces": 0 if p is None else len(p.faces),
                            "score": max(v.track_scores.values(), default=None),
                            "threshold": v.threshold, "events": len(v.events),
                            "ended": v.ended, "records": v.records})
            return out

    def ended(self, sid: str) -> bool:
        """Whether the stream's end-of-stream record came (after its last preview)."""
        with self._lock:
            view = self.streams.get(sid)
            return view is not None and view.ended

    def picture(self, sid: str) -> Picture | None:
        """The stream's annotated picture; None before its first preview. Drawn once
        per new preview."""
        with self._lock:
            view = self.streams.get(sid)
            if view is None or view.preview is None:
                return None
            if view.picture_version != view.version:
                view.picture = self._draw(view)
                view.picture_version = view.version
            return Picture(view.version, view.picture, view.preview.pts_ns)

    def _draw(self, view: StreamView) -> bytes:
        p = view.preview
        assert p is not None
        image = cv2.imdecode(np.frombuffer(p.jpeg, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            image = np.zeros((p.height, p.width, 3), np.uint8)
        thr = view.threshold
        for face in p.faces:
            score = view.track_scores.get(face.track)
            hot = score is not None and thr is not None and score >= thr
            x0, y0, x1, y1 = (round(v) for v in face.box)
            cv2.rectangle(image, (x0, y0), (x1, y1), MICRO if hot else FACE, 2)
            label = f"#{face.track}" + ("" if score is None else f" {score:.2f}")
            cv2.putText(image, label, (x0, max(12, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                        MICRO if hot else FACE, 1, cv2.LINE_AA)
        strip = self._strip(view, image.shape[1], p.pts_ns)
        ok, jpeg = cv2.imencode(".jpg", np.vstack([image, strip]),
                                [cv2.IMWRITE_JPEG_QUALITY, 80])
        return jpeg.tobytes() if ok else p.jpeg

    def _strip(self, view: StreamView, width: int, now_ns: int) -> np.ndarray:
        """The score over the last ``strip_s`` s of pts: the curve (scaled so the
        threshold sits at 60 % of the height), the threshold line, events shaded."""
        strip = np.full((STRIP_PX, width, 3), 24, np.uint8)
        start = now_ns - self.strip_ns

        def x_of(pts: int) -> int:
            return int((pts - start) / self.strip_ns * (width - 1))

        for event in view.events:
            iv = _interval(event)
            if iv is not None and iv[1] >= start:
                micro = event.get("kind", "micro") != "macro"
                cv2.rectangle(strip, (max(0, x_of(iv[0])), 0),
                              (min(width - 1, x_of(iv[1])), STRIP_PX - 1),
                              (70, 60, 130) if micro else (70, 70, 70), -1)
        top = max([s for _, s in view.scores] + [1e-6]) if view.threshold is None \
            else view.threshold / 0.6
        if view.threshold is not None:
            y = int(STRIP_PX - 1 - 0.6 * (STRIP_PX - 1))
            cv2.line(strip, (0, y), (width - 1, y), (0, 200, 255), 1)
        points = [(x_of(t), int(STRIP_PX - 1 - min(1.0, s / top) * (STRIP_PX - 1)))
                  for t, s in view.scores if start <= t <= now_ns]
        if len(points) > 1:
            cv2.polylines(strip, [np.array(points, np.int32)], False, (255, 255, 255), 1,
                          cv2.LINE_AA)
        cv2.putText(strip, f"score, last {self.strip_ns / 1e9:.0f} s", (4, 12),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.35, (200, 200, 200), 1, cv2.LINE_AA)
        return strip
