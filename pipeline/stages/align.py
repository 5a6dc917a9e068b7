"""Align: frames in, one aligned face per tracked person out.

Per stream, a :class:`~pipeline.faces.tracker.FaceTracker` finds faces (detector every
``tracking.detect_every`` frames, landmarks tracking them in between) and a
:class:`~pipeline.faces.alignment.FaceAligner` warps each onto the canonical face with
a stabilised rigid transform, then cuts the eye and mouth regions that MicroExpFuseNet
reads. A frame without a face emits nothing and is counted (``dropped{reason="no_face"}``).
With ``tracking.landmark_every: k`` > 1 the tracker (detector and landmarks) runs on every
k-th frame only and the frames in between are aligned with the last landmarks found: the
landmark model is most of this stage's CPU, and with ``stabilise: hold`` the transform
is held over many frames anyway. End-of-stream passes through. Run several replicas to
spread streams over processes: a stream always goes to the same replica, so its order is
kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np
import zmq

from pipeline import messages
from pipeline.config import AlignSettings
from pipeline.faces.alignment import FaceAligner
from pipeline.faces.backend import FaceBackend, open_backend
from pipeline.faces.tracker import FaceTracker, Track
from pipeline.logs import worth_logging
from pipeline.runtime import wire
from pipeline.runtime.stage import Stage
from pipeline.runtime.wire import Message
from pipeline.view.preview import PreviewTap


@dataclass
class StreamFaces:
    """The per-stream state: its tracker, its aligner, and the tracks of the last frame
    the tracker ran on (reused in between with ``landmark_every`` > 1)."""

    tracker: FaceTracker
    aligner: FaceAligner
    tracks: list[Track] = field(default_factory=list)
    frames: int = 0

    def close(self) -> None:
        self.tracker.close()


class AlignStage(Stage[AlignSettings]):
    def setup(self) -> None:
        s = self.settings
        options = ({"model_selection": 1 if s.tracking.detector == "full" else 0,
                    "mesh": s.tracking.mesh, "refresh_every": s.tracking.mesh_refresh_every}
                   if s.backend == "mediapipe" else {})
        self.backend: FaceBackend = open_backend(s.backend, **options)
        self.too_small_logged = 0
        self.streams: dict[str, StreamFaces] = {}
        # Load the models now, before the stage reports ready, so the first frame
        # does not wait for them.
        warm = self.backend.detector()
        warm.detect(np.zeros((64, 64, 3), np.uint8))
        warm.close()
        # Each stream's tracker (its detector graph) is made now too: made on its first
        # frame, all streams starting at once would stall this worker behind a backlog.
        cfg = self.ctx.config
        for sid in sorted(cfg.expected_streams(self.ctx.name, self.ctx.replica)):
            self._faces_of(sid)
        # The live view (YAML view:): previews of the frames with this worker's boxes.
        self.preview: PreviewTap | None = None
        if cfg.view is not None:
            v = cfg.view
            sock = self.ctx.open_socket(zmq.XPUB, v.endpoint, bind=False, sndhwm=16,
                                        linger_ms=0)
            self.preview = PreviewTap(sock, v.fps, v.width, v.quality)
        self.log.info("face backend %s (%s landmarks)", self.backend.name, self.backend.scheme)

    def _faces_of(self, stream: str) -> StreamFaces:
        st = self.streams.get(stream)
        if st is None:
            s = self.settings
            t, a = s.tracking, s.alignment
            st = StreamFaces(
                FaceTracker(self.backend, detect_every=t.detect_every, max_faces=t.max_faces,
                            max_absence_ms=t.max_absence_ms, min_score=t.min_score,
                            min_face_px=t.min_face_px, tiles=t.detect_tiles),
                FaceAligner(size=a.size, region_size=a.region_size, stabilise=a.stabilise,
                            min_cutoff_hz=a.min_cutoff_hz, beta=a.beta,
                            d_cutoff_hz=a.d_cutoff_hz, hold_ms=a.hold_ms,
                            max_drift_px=a.max_drift_px))
            self.streams[stream] = st
        return st

    def process(self, msg: Message) -> Iterable[Message]:
        if msg.kind != wire.FRAME:
            return (msg,)
        frame = messages.Frame.from_message(msg)
        image = frame.image
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        st = self._faces_of(frame.stream)
        every = self.settings.tracking.landmark_every
        if every == 1 or st.frames % every == 0 or not st.tracks:
            small_before = st.tracker.too_small
            st.tracks = tracks = st.tracker.update(image, frame.pts_ns)
            for ended in st.tracker.pop_ended():
                st.aligner.forget(ended)
            if st.tracker.too_small > small_before:
                self._too_small(frame, st.tracker)
        else:
            tracks = st.tracks
        st.frames += 1
        if self.preview is not None:
            self.preview.offer(frame.stream, frame.seq, frame.pts_ns, image,
                               [(t.id, t.box) for t in tracks])
        if not tracks:
            self.ctx.metrics.count_drop(frame.stream, "no_face")
            return ()
        out = []
        for track in tracks:
            face = st.aligner.align(track.id, image, track.landmarks, frame.pts_ns,
                                    track.det_score)
            q = face.quality
            out.append(messages.Face(
                frame.stream, frame.seq, frame.pts_ns, track.id, face.face, face.gray, face.eyes,
                face.mouth, track.landmarks.points.astype(np.float32),
                face.transform.astype(np.float32), track.landmarks.scheme,
                tuple(round(float(v), 1) for v in track.box), int(face.anchor_pts_ns),
                {"score": round(float(q.score), 4), "yaw_deg": round(float(q.yaw_deg), 1),
                 "pitch_deg": round(float(q.pitch_deg), 1),
                 "roll_deg": round(float(q.roll_deg), 1), "blur": round(float(q.blur), 1)},
                (int(image.shape[0]), int(image.shape[1]))).to_message())
        return out

    def _too_small(self, frame: messages.Frame, tracker: FaceTracker) -> None:
        """A face under ``tracking.min_face_px`` was detected: not analysed, counted per
        detection pass that saw one, logged at a rate."""
        self.ctx.metrics.count_drop(frame.stream, "face_too_small")
        self.too_small_logged += 1
        if worth_logging(self.too_small_logged):
            self.log.warning(
                "stream %s seq %d: a %.0f px face is under tracking.min_face_px (%d): not "
                "analysed (%d such detections so far; a closer camera, or a lower "
                "min_face_px to analyse it anyway)", frame.stream, frame.seq,
                tracker.smallest_seen or 0, self.settings.tracking.min_face_px,
                self.too_small_logged)

    def reset_stream(self, stream: str) -> None:
        st = self.streams.pop(stream, None)
        if st is not None:
            st.close()

    def on_stream_end(self, msg: Message) -> Iterable[Message]:
        if self.preview is not None:
            self.preview.forget(msg.stream)
        st = self.streams.pop(msg.stream, None)
        if st is not None:
            st.close()
        return (msg,)

    def close(self) -> None:
        for st in self.streams.values():
            st.close()
        self.streams.clear()
