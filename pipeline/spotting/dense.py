"""``spotter: dense``: a 3D-CNN with a "no expression" class scores every window.

The fourth spotter of issue 6, the "dense" reading of arXiv 1904.01390: MicroExpSTCNN
(Table I layers) with one more output, *no expression*, is slid over the stream. Every
``stride_ms`` of pts the last ``window_ms`` of a track's aligned faces are resampled in
time to the model's T frames (:func:`window_clip`, the same function training uses) and
classified as micro, macro or none. A window is trained to say *micro* when an
expression's middle lies in its central third, so a micro-expression shows as a short run
of positive windows whose centres bracket its apex; a run becomes one interval of
``me_ms`` centred on the run's score-weighted centre (the ME's length is far less certain
than its time). Runs closer than ``gap_ms`` merge.

Faces are contrasted against the window's own mean (per pixel) before the network sees
them: what stays is what moved within the window, not who the face is.

The bundled ``pipeline/weights/spotter_dense.onnx`` was TRAINED ON SYNTHETIC SCENES ONLY
(``train/spotter/dense.py``); its metadata carries the window, T, the input side and the
threshold chosen on validation scenes.

Example (a still face: no micro-expression):
    >>> import numpy as np
    >>> from pipeline.spotting.face_frame import FaceFrame
    >>> s = DenseSpotter()
    >>> out = []
    >>> for i in range(30):
    ...     out += s.push(FaceFrame(i * 33_333_333, np.full((64, 64), 120, np.uint8), None))
    >>> out + s.flush()
    []
"""

from __future__ import annotations

import math
from collections import deque
from pathlib import Path

import numpy as np

from pipeline.spotting.face_frame import FaceFrame
from pipeline.spotting.interval import LengthLimits, SpottedInterval, limit_lengths
from pipeline.spotting.learned_input import face_input
from pipeline.spotting.spotter import ScoredSpotter
from pipeline.stages.spot.windowing import interpolation_weights

BUNDLED_MODEL = Path(__file__).resolve().parents[1] / "weights" / "spotter_dense.onnx"
CLASSES = ("micro", "macro", "none")  # the model's outputs, in order
CONTRAST_SCALE = 32.0  # grey levels: a window's deviations from its mean, scaled


def window_clip(pts_ns: np.ndarray, faces: np.ndarray, end_ns: int, window_ns: int,
                frames: int) -> np.ndarray:
    """float32 (frames, S, S): the faces at ``frames`` evenly spaced times over
    [end_ns - window_ns, end_ns], each linearly interpolated between its two nearest
    faces (:func:`~pipeline.stages.spot.windowing.interpolation_weights`, as clips are; times before
    the first face take the first), minus the window's mean face,
    divided by ``CONTRAST_SCALE``.

    Example:
        >>> import numpy as np
        >>> pts = np.array([0, 100, 200]); faces = np.stack([np.full((2, 2), v, np.uint8)
        ...                                                  for v in (0, 32, 64)])
        >>> window_clip(pts, faces, 200, 200, 5)[:, 0, 0].tolist()
        [-1.0, -0.5, 0.0, 0.5, 1.0]
    """
    targets = np.linspace(end_ns - window_ns, end_ns, frames)
    pts = pts_ns.astype(np.float64)
    if len(pts) == 1:
        x = np.repeat(faces[:1].astype(np.float32), frames, axis=0)
    else:
        lower, upper, w = interpolation_weights(pts, targets)
        w = w.astype(np.float32).reshape(-1, 1, 1)
        f = faces.astype(np.float32)
        x = f[lower] * (1 - w) + f[upper] * w
    return (x - x.mean(axis=0, keepdims=True)) / np.float32(CONTRAST_SCALE)


class DenseModel:
    """The dense spotter's ONNX engine and metadata (one per process, shared)."""

    _open: dict[tuple[Path, int | None], DenseModel] = {}

    def __init__(self, path: Path, threads: int | None):
        from engines import open_engine

        self.path = path
        self.engine = open_engine(path, "onnxruntime", intra_op_threads=threads)
        meta = self.engine.metadata
        try:
            self.window_ms = float(meta["mestream.dense.window_ms"])
            self.frames = int(meta["mestream.dense.frames"])
            self.size = int(meta["mestream.dense.size"])
            self.threshold = float(meta.get("mestream.dense.threshold", 0.5))
            self.low = float(meta.get("mestream.dense.low", self.threshold))
            self.gap_ms = float(meta.get("mestream.dense.gap_ms", 100.0))
            self.stride_ms = float(meta.get("mestream.dense.stride_ms", 66.7))
        except (KeyError, ValueError) as exc:
            raise ValueError(f"{path}: not a dense spotter model (metadata "
                             f"mestream.dense.* missing or bad: {exc})") from None
        self.input = next(iter(self.engine.inputs))  # (N, 1, T, S, S)

    @classmethod
    def shared(cls, model: str | Path | None, threads: int | None) -> DenseModel:
        path = Path(model) if model is not None else BUNDLED_MODEL
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such dense spotter model")
        key = (path.resolve(), threads)
        if key not in cls._open:
            cls._open[key] = cls(path, threads)
        return cls._open[key]

    def p_micro(self, clip: np.ndarray) -> float:
        """P(micro) of one window clip (frames, S, S)."""
        out = self.engine.infer({self.input: clip[None, None].astype(np.float32)})
        logits = np.asarray(next(iter(out.values())), np.float64)[0]
        e = np.exp(logits - logits.max())
        return float(e[0] / e.sum())


class DenseSpotter(ScoredSpotter):
    """Spotter of one track with the dense window classifier (module docstring).

    Args:
        me_ms: the length of a reported interval (centred on the run of windows).
        model: the ONNX file (default: the bundled, SYNTHETIC-trained one).
        threshold / low: P(micro) a run must reach / stay above (None: the model's).
        stride_ms: pts between two scored windows (None: the model's).
        gap_ms: runs closer than this merge (None: the model's).
        threads: ONNX Runtime intra-op threads.
        history_ms: how much score history is kept (timelines).
    """

    name = "dense"

    def __init__(self, me_ms: float = 300.0, model: str | Path | None = None,
                 threshold: float | None = None, low: float | None = None,
                 stride_ms: float | None = None, gap_ms: float | None = None,
                 threads: int | None = 1, history_ms: float = 120_000.0,
                 max_ms: float = 500.0):
        self.model = DenseModel.shared(model, threads)
        m = self.model
        self.threshold = m.threshold if threshold is None else float(threshold)
        self.low = (m.low if threshold is None else self.threshold) if low is None else low
        if not 0.0 < self.low <= self.threshold < 1.0:
            raise ValueError(f"need 0 < low <= threshold < 1, got low {self.low}, "
                             f"threshold {self.threshold}")
        self.stride_ns = round((m.stride_ms if stride_ms is None else stride_ms) * 1e6)
        self.gap_ns = round((m.gap_ms if gap_ms is None else gap_ms) * 1e6)
        if self.stride_ns <= 0 or self.gap_ns < 0 or me_ms <= 0:
            raise ValueError("stride_ms and me_ms must be > 0 and gap_ms >= 0")
        self.me_ns = round(me_ms * 1e6)
        self.window_ns = round(m.window_ms * 1e6)
        self.limits = LengthLimits(max_ms=max(max_ms, me_ms + 1))
        self._pts: deque[int] = deque()
        self._faces: deque[np.ndarray] = deque()
        self._next_ns: int | None = None
        self._run: list[tuple[int, float]] = []   # (window centre, p) of the open run
        self._pending: list[SpottedInterval] = []  # closed runs, waiting for a merge
        self._history: deque[tuple[int, float]] = deque(
            maxlen=max(1, math.ceil(history_ms * 1e6 / self.stride_ns)))

    @property
    def latency_ms(self) -> float:
        """Half a window (a window's centre is scored when its end arrives), a stride,
        the merge gap and half an interval."""
        return (self.window_ns / 2 + self.stride_ns + self.gap_ns + self.me_ns / 2) / 1e6

    def push(self, frame: FaceFrame) -> list[SpottedInterval]:
        if self._pts and frame.pts_ns <= self._pts[-1]:
            return []
        self._pts.append(frame.pts_ns)
        self._faces.append(face_input(frame.gray, self.model.size))
        while self._pts and self._pts[0] < frame.pts_ns - self.window_ns - self.stride_ns:
            self._pts.popleft()
            self._faces.popleft()
        if self._next_ns is None:  # the first full window ends a window after the start
            self._next_ns = frame.pts_ns + self.window_ns
        out: list[SpottedInterval] = []
        if frame.pts_ns >= self._next_ns:
            self._next_ns = frame.pts_ns + self.stride_ns
            out += self._score(frame.pts_ns)
        return out

    def flush(self) -> list[SpottedInterval]:
        self._close_run()
        out, self._pending = self._pending, []
        return limit_lengths(out, self.limits)

    # -- windows and runs ------------------------------------------------------------------
    def _score(self, end_ns: int) -> list[SpottedInterval]:
        clip = window_clip(np.fromiter(self._pts, np.int64, len(self._pts)),
                           np.stack(self._faces), end_ns, self.window_ns, self.model.frames)
        p = self.model.p_micro(clip)
        centre = end_ns - self.window_ns // 2
        self._history.append((centre, p))
        if p >= self.low:
            self._run.append((centre, p))
        else:
            self._close_run()
        return self._finalise(centre)

    def _close_run(self) -> None:
        run, self._run = self._run, []
        if not run or max(p for _, p in run) < self.threshold:
            return
        weights = np.array([p for _, p in run])
        centres = np.array([c for c, _ in run], np.float64)
        mid = int(round(float((centres * weights).sum() / weights.sum())))
        apex, peak = max(run, key=lambda cp: cp[1])
        iv = SpottedInterval(mid - self.me_ns // 2, int(apex), mid + self.me_ns // 2,
                             float(peak), "micro", self.name)
        if self._pending and iv.onset_ns - self._pending[-1].offset_ns <= self.gap_ns:
            last = self._pending[-1]
            best = iv if iv.score > last.score else last
            # Merged runs: one expression seen twice; keep the stronger run's interval.
            self._pending[-1] = best
        else:
            self._pending.append(iv)

    def _finalise(self, now_ns: int) -> list[SpottedInterval]:
        """Closed runs no later run can merge with any more are final."""
        start = self._run[0][0] if self._run else now_ns
        ready = [iv for iv in self._pending if start - iv.offset_ns > self.gap_ns]
        self._pending = [iv for iv in self._pending if iv not in ready]
        return limit_lengths(ready, self.limits)

