"""Spot: aligned faces in, micro-expression clips (or spotting events) out.

Per stream and face track, a :class:`~pipeline.stages.spot.windowing.ClipWindow` keeps the last
``history_ms`` of aligned faces and a spotter (``pipeline.spotting``) scores them online.
When the spotter closes an interval, the stage cuts ``[onset - margin, offset + margin]``
from the window, resamples it to ``clip_frames`` frames in time and sends a ``clip``
message (face, eyes and mouth tensors) to the classifier, or, with no classifier after
it, an ``event`` with the interval and score. End-of-stream flushes every track's
spotter first, so an expression at the very end is not lost.

With ``spotter: learned`` the process holds one engine (a
:class:`~pipeline.spotting.learned.StepRunner`): each track's spotter submits its ticks,
and the stage's tick hook scores the pending ticks of every track in one batched call
once the oldest has waited ``options.batch_ms`` (5 ms), then emits what became final.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline import messages
from pipeline.config import SpotSettings
from pipeline.runtime import wire
from pipeline.runtime.stage import Stage
from pipeline.runtime.wire import Message
from pipeline.spotting.options import SPOTTER_CLASSES, check_options, spotter_class
from pipeline.stages.spot.windowing import RESAMPLE_METHOD, ClipWindow


def make_spotter(name: str, me_ms: float, options: dict[str, Any],
                 runner: Any = None) -> Any:
    """The spotter a stage config names (imported here: only spot processes need it),
    its ``options`` checked (:mod:`pipeline.spotting.options`). ``runner``: the learned
    spotter's shared :class:`~pipeline.spotting.learned.StepRunner` (its tracks then
    wait for the stage to run it; the ``options`` left by
    :func:`~pipeline.spotting.learned.shared_runner`)."""
    if name not in SPOTTER_CLASSES:
        raise ValueError(f"unknown spotter {name!r}")
    cls = spotter_class(name)
    if runner is not None:
        return cls(me_ms=me_ms, runner=runner, autorun=False, **options)
    return cls(me_ms=me_ms, **check_options(name, options))


def canonical_points(landmarks: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """Frame-pixel landmarks mapped into the aligned face by its transform."""
    return (landmarks @ transform[:, :2].T + transform[:, 2]).astype(np.float32)


@dataclass
class TrackState:
    window: ClipWindow
    spotter: Any
    last_pts_ns: int = 0
    clips: int = 0
    seen: set[int] = field(default_factory=set)


class SpotStage(Stage[SpotSettings]):
    def setup(self) -> None:
        s = self.settings
        cfg = self.ctx.config
        nxt = cfg.downstream(self.ctx.name)
        publishes = bool(nxt) and cfg.stages[nxt[0]].type == "publish"
        self.emit_clips = s.emit == "clips" or (s.emit == "auto" and not publishes)
        self.tracks: dict[tuple[str, int], TrackState] = {}
        self.runner: Any = None
        self.track_options = dict(s.options)
        if s.spotter == "learned":
            # One engine for every track of this process: their ticks are batched.
            from pipeline.spotting.learned import describe, shared_runner

            options = dict(s.options)
            if s.model is not None:
                options["model"] = s.model
            try:
                self.runner, self.track_options = shared_runner(options)
            except (OSError, ValueError, TypeError) as exc:
                where = "model" if isinstance(exc, OSError) else "options"
                raise ValueError(f"stages.{self.ctx.name}.{where}: {exc}") from None
            self.log.info("learned spotter model %s", describe(self.runner))
        else:
            if s.spotter == "dense" and s.model is not None:
                self.track_options["model"] = s.model
            try:  # fail at start on bad options
                make_spotter(s.spotter, s.me_ms, dict(self.track_options))
            except (OSError, ValueError, TypeError) as exc:
                where = "model" if isinstance(exc, OSError) else "options"
                raise ValueError(f"stages.{self.ctx.name}.{where}: {exc}") from None
        self.log.info("spotter %s (me_ms %.0f); emitting %s", s.spotter, s.me_ms,
                      "clips" if self.emit_clips else "events")

    def _track(self, stream: str, track: int) -> TrackState:
        key = (stream, track)
        st = self.tracks.get(key)
        if st is None:
            s = self.settings
            st = TrackState(ClipWindow(s.history_ms), make_spotter(
                s.spotter, s.me_ms, dict(self.track_options), self.runner))
            self.tracks[key] = st
        return st

    def process(self, msg: Message) -> Iterable[Message]:
        if msg.kind != wire.FACE or msg.track is None:
            return ()
        from pipeline.spotting.face_frame import FaceFrame

        face = messages.Face.from_message(msg)
        st = self._track(face.stream, face.track)
        st.window.append(face.pts_ns, face.seq, face.gray, face.eyes, face.mouth)
        st.last_pts_ns = face.pts_ns
        points = canonical_points(face.landmarks, face.transform)
        intervals = st.spotter.push(FaceFrame(face.pts_ns, face.gray, points))
        out: list[Message | None] = []
        if self.settings.emit_tracks:
            out.append(self._track_state(face, st))
        out += [self._emit(msg.stream, msg.track, msg.seq, msg.pts_ns, st, iv)
                for iv in intervals]
        out += self._expire(msg.stream, msg.pts_ns)
        return [m for m in out if m is not None]

    def hold(self, stream: str) -> int | None:
        """The oldest frame in any of the stream's track histories: a re-read from there
        rebuilds every history, so every interval still open is found again."""
        firsts = [st.window.frames[0].seq for (sid, _), st in self.tracks.items()
                  if sid == stream and len(st.window)]
        return min(firsts) if firsts else None

    def reset_stream(self, stream: str) -> None:
        for key in [k for k in self.tracks if k[0] == stream]:
            del self.tracks[key]  # a learned spotter's pending ticks go with it

    def next_tick_s(self) -> float | None:
        """The learned spotter's batch is due (its oldest tick waited ``batch_ms``)."""
        return None if self.runner is None else self.runner.due_s()

    def tick(self) -> Iterable[Message]:
        """Score the pending ticks of every track in one batch; emit what became final."""
        if self.runner is None:
            return ()
        self.runner.run()
        return self._collect()

    def close(self) -> None:
        if self.runner is not None:
            self.runner.close()

    def _collect(self) -> list[Message]:
        out: list[Message | None] = []
        for (sid, track), st in self.tracks.items():
            out += [self._emit(sid, track, 0, st.last_pts_ns, st, iv)
                    for iv in st.spotter.take_ready()]
        return [m for m in out if m is not None]

    def _track_state(self, face: messages.Face, st: TrackState) -> Message:
        # The latest score the spotter has: it may lag the frame (a flow spotter scores
        # a frame once the frames after it arrived), so its own pts goes with it.
        last = st.spotter.latest_score()
        meta = {"box": list(face.box) or None,
                "score": None if last is None else round(float(last[1]), 4),
                "score_pts_ns": None if last is None else int(last[0])}
        threshold = getattr(st.spotter, "threshold", None)
        if isinstance(threshold, int | float):  # what a score must reach (plots draw it)
            meta["threshold"] = round(float(threshold), 4)
        if self.settings.track_landmarks:
            meta["landmarks"] = np.round(face.landmarks, 1).tolist()
        return Message(wire.TRACK, face.stream, face.seq, face.pts_ns, meta=meta,
                       track=face.track)

    def _expire(self, stream: str, now_ns: int) -> list[Message | None]:
        """Tracks of this stream not seen for a whole history have ended: flush them."""
        out: list[Message | None] = []
        horizon = now_ns - int(self.settings.history_ms * 1e6)
        for (sid, track), st in list(self.tracks.items()):
            if sid == stream and st.last_pts_ns < horizon:
                out += [self._emit(sid, track, 0, now_ns, st, iv) for iv in st.spotter.flush()]
                del self.tracks[(sid, track)]
                if self.runner is not None:
                    out += self._collect()
        return out

    def _emit(self, stream: str, track: int, _frame_seq: int, now_ns: int, st: TrackState,
              iv: Any) -> Message | None:
        s = self.settings
        margin = int(s.clip_margin_ms * 1e6)
        span = messages.Span(int(iv.onset_ns), int(iv.apex_ns), int(iv.offset_ns),
                             round(float(iv.score), 4), iv.kind, iv.spotter)
        # How long after the expression ended (source time) it left this stage.
        after_offset_ms = round((now_ns - iv.offset_ns) / 1e6, 1)
        emit_unix_ns = time.time_ns()
        # A clip's seq numbers the clips of its (stream, track): 0, 1, 2, ... so that
        # downstream order and duplicate checks work however many close in one frame.
        seq = st.clips
        st.clips += 1
        if not self.emit_clips:
            return messages.Event(stream, seq, int(iv.apex_ns), track, span,
                                  after_offset_ms=after_offset_ms,
                                  spot_emit_unix_ns=emit_unix_ns,
                                  note="spotting only: no classifier").to_message()
        clip = st.window.clip(iv.onset_ns - margin, iv.offset_ns + margin, s.clip_frames)
        if clip is None:
            self.log.warning("stream %s track %d: interval %.0f-%.0f ms left the history "
                             "before it closed (raise history_ms)", stream, track,
                             iv.onset_ns / 1e6, iv.offset_ns / 1e6)
            self.ctx.metrics.count_drop(stream, "history")
            return None
        return messages.Clip(stream, seq, int(iv.apex_ns), track, clip.face, clip.eyes,
                             clip.mouth, span, after_offset_ms, emit_unix_ns,
                             clip.source_frames, clip.start_ns, clip.end_ns, clip.first_seq,
                             clip.last_seq, RESAMPLE_METHOD).to_message()

    def on_stream_end(self, msg: Message) -> Iterable[Message]:
        out: list[Message | None] = []
        for (sid, track), st in list(self.tracks.items()):
            if sid == msg.stream:
                out += [self._emit(sid, track, msg.seq, st.last_pts_ns, st, iv)
                        for iv in st.spotter.flush()]
                del self.tracks[(sid, track)]
        if self.runner is not None:   # a flush ran the shared batch: others may be final
            out += self._collect()
        return [m for m in out if m is not None] + [msg]
