"""The learned spotter: a time-contrasted feature + GRU memory network (trained on
SYNTHETIC scenes only, ``train/spotter``), run per tick through ``engines`` (ONNX Runtime),
batched across all the tracks of a process.

Per track, frames are resampled by pts to the model's tick (40 ms; :class:`TickSampler`),
each tick's window of the last ``window`` faces (resized to the model's side,
:func:`face_input`) and the track's recurrent state go to a :class:`StepRunner`, which
stacks the pending ticks of every track into one engine call. A tick's score describes
the tick ``delay`` ticks before it (the model sees what follows a movement). Scores become
intervals by hysteresis (a run of ticks with p >= ``low`` holding one p >= ``threshold``),
runs closer than ``gap_ms`` are merged, and each interval is labelled micro (``min_ms`` to
``max_ms`` long) or macro (longer); shorter ones are dropped.

Example (the bundled model; one track, the runner runs after every push)::

    spotter = LearnedSpotter()
    for frame in face_frames:               # FaceFrame(pts_ns, gray, points)
        for interval in spotter.push(frame):
            print(interval.onset_ns, interval.offset_ns, interval.kind)
    spotter.flush()

Many tracks in one process share one runner (``LearnedSpotter(runner=shared,
autorun=False)``; the owner calls ``shared.run()`` and collects ``spotter.take_ready()``).
"""

from __future__ import annotations

import json
import math
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.spotting.face_frame import FaceFrame
from pipeline.spotting.interval import (
    LengthLimits,
    SpottedInterval,
    limit_lengths,
)
from pipeline.spotting.learned_input import face_input
from pipeline.spotting.learned_ticks import TickSampler
from pipeline.spotting.spotter import ScoredSpotter

BUNDLED_MODEL = Path(__file__).resolve().parents[1] / "weights" / "spotter_learned.onnx"
"""The bundled model (SYNTHETIC-trained, see pipeline/weights/README.md)."""

@dataclass(frozen=True)
class ModelInfo:
    """What the runtime needs to know of a model (its ``mestream.spotter.*`` metadata)."""

    tick_ms: float
    delay: int
    size: int
    window: int
    state_size: int
    threshold: float = 0.5
    """The post-processing chosen on the validation scenes (``mestream.spotter.threshold``,
    ``low``, ``gap_ms``, ``min_ms``): a spotter's defaults."""
    low: float = 0.5
    gap_ms: float = 80.0
    min_ms: float = 80.0

    @classmethod
    def from_metadata(cls, meta: dict[str, str], path: Path) -> ModelInfo:
        try:
            chosen = {k: float(meta[f"mestream.spotter.{k}"])
                      for k in ("threshold", "low", "gap_ms", "min_ms")
                      if f"mestream.spotter.{k}" in meta}
            return cls(float(meta["mestream.spotter.tick_ms"]),
                       int(meta["mestream.spotter.delay"]), int(meta["mestream.spotter.size"]),
                       int(meta["mestream.spotter.window"]),
                       int(meta["mestream.spotter.state_size"]), **chosen)
        except (KeyError, ValueError) as exc:
            raise ValueError(f"{path}: not a learned spotter model (metadata "
                             f"mestream.spotter.* missing or bad: {exc})") from None


class StepRunner:
    """One engine shared by the learned spotters of a process: each submits its ticks,
    :meth:`run` scores every pending tick of every track in as few engine calls as
    possible (one per round: the first pending tick of each track, then the second, ...,
    since a track's next tick needs the state its previous one left)."""

    def __init__(self, model: str | Path | None = None, threads: int | None = 1,
                 batch_ms: float = 5.0):
        from engines import open_engine

        path = Path(model) if model is not None else BUNDLED_MODEL
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such learned spotter model")
        self.path = path
        self.engine = open_engine(path, "onnxruntime", intra_op_threads=threads)
        self.info = ModelInfo.from_metadata(self.engine.metadata, path)
        self._pending: list[tuple[LearnedSpotter, int, np.ndarray]] = []
        self.batch_s = batch_ms / 1000.0
        self._oldest: float | None = None
        self.calls = 0
        """Engine calls so far."""
        self.ticks = 0
        """Ticks scored so far."""

    @property
    def pending(self) -> int:
        return len(self._pending)

    def submit(self, spotter: LearnedSpotter, tick_ns: int, window: np.ndarray) -> None:
        if not self._pending:
            self._oldest = time.monotonic()
        self._pending.append((spotter, tick_ns, window))

    def due_s(self) -> float | None:
        """Seconds until the oldest pending tick has waited ``batch_ms`` (when the owner
        should :meth:`run`), None when nothing is pending."""
        if not self._pending or self._oldest is None:
            return None
        return max(0.0, self._oldest + self.batch_s - time.monotonic())

    def run(self) -> None:
        """Score every pending tick (the spotters get their scores in tick order)."""
        while self._pending:
            batch, rest, seen = [], [], set()
            for job in self._pending:
                if id(job[0]) in seen:
                    rest.append(job)
                else:
                    seen.add(id(job[0]))
                    batch.append(job)
            self._pending = rest
            self._oldest = None
            faces = np.stack([w for _, _, w in batch]).astype(np.float32) * (1.0 / 255.0)
            state = np.stack([s.state for s, _, _ in batch])
            out = self.engine.infer({"faces": faces, "state": state})
            self.calls += 1
            self.ticks += len(batch)
            for i, (spotter, tick_ns, _) in enumerate(batch):
                spotter.scored(tick_ns, float(out["logit"][i]), out["state_out"][i])

    def close(self) -> None:
        self.engine.close()


class LearnedSpotter(ScoredSpotter):
    """Spotter of one track with the learned model (see the module docstring).

    Args:
        me_ms: accepted for the common spotter signature (the model knows ME lengths).
        model: the ONNX file (default: the bundled, SYNTHETIC-trained one).
        threshold: p a run of ticks must reach to be reported.
        low: p above which a run continues (hysteresis, <= threshold).
        gap_ms: runs closer than this are merged into one interval.
        min_ms / max_ms: shorter intervals are dropped, longer ones (by more than a
            tick, the interval's resolution) are labelled macro.
        (threshold, low, gap_ms, min_ms: None = the model's metadata, chosen on its
        validation scenes.)
        threads: ONNX Runtime intra-op threads of a runner this spotter makes itself.
        batch_ms: how long a shared runner lets the first pending tick wait for others.
        history_ms: how much score history is kept (for timelines).
        runner: a shared :class:`StepRunner` (default: one of its own).
        autorun: run the runner at every push (False: the owner of a shared runner runs
            it and collects :meth:`take_ready`).
    """

    name = "learned"

    def __init__(self, me_ms: float = 300.0, model: str | Path | None = None,
                 threshold: float | None = None, low: float | None = None,
                 gap_ms: float | None = None, min_ms: float | None = None,
                 max_ms: float = 500.0, threads: int | None = 1,
                 history_ms: float = 120_000.0, batch_ms: float = 5.0,
                 runner: StepRunner | None = None,
                 autorun: bool = True):
        self.runner = runner if runner is not None else StepRunner(model, threads, batch_ms)
        info = self.runner.info
        # Unset options take the model's own choice (made on its validation scenes).
        if threshold is None:
            threshold = info.threshold
            low = info.low if low is None else low
        low = threshold if low is None else low
        gap_ms = info.gap_ms if gap_ms is None else gap_ms
        min_ms = info.min_ms if min_ms is None else min_ms
        if not 0.0 < threshold < 1.0 or not 0.0 < low <= threshold:
            raise ValueError(f"need 0 < low <= threshold < 1, got low {low}, "
                             f"threshold {threshold}")
        if gap_ms < 0 or not 0 <= min_ms < max_ms:
            raise ValueError(f"need gap_ms >= 0 and 0 <= min_ms < max_ms, got {gap_ms}, "
                             f"{min_ms}, {max_ms}")
        self.autorun = autorun or runner is None
        self.info = info
        self.threshold, self.low, self.gap_ms = threshold, low, gap_ms
        # An interval's ends are known to a tick (runs of ticks, +- half a tick at each
        # end): one within a tick of max_ms is still micro (a planted 480 ms expression
        # was spotted as 13 ticks, 520 ms, and reported macro). Planted macros run from
        # 500 ms to 4 s, so about 1 % of them fall in that tick.
        self.limits = LengthLimits(min_ms=min_ms, max_ms=max_ms + info.tick_ms)
        self.tick_ns = round(info.tick_ms * 1e6)
        self.sampler = TickSampler(info.tick_ms)
        self.state = np.zeros(info.state_size, np.float32)
        self._window: deque[np.ndarray] = deque(maxlen=info.window)
        self._t0: int | None = None
        self._history: deque[tuple[int, float]] = deque(
            maxlen=max(1, math.ceil(history_ms / info.tick_ms)))
        self._run: list[Any] | None = None     # [start_ns, end_ns, apex_ns, peak]
        self._candidates: list[SpottedInterval] = []
        self._ready: list[SpottedInterval] = []
        self._described_ns: int | None = None
        self._last_tick_ns: int | None = None
        # The last ticks' faces: their noise pads the end of the track (flush).
        self._recent: deque[np.ndarray] = deque(maxlen=info.delay + 1)

    # -- the Spotter protocol ------------------------------------------------------------

    @property
    def latency_ms(self) -> float:
        """Bound on (pts of the frame that emits an interval) - (its offset), for sources
        at or above the tick rate: the model's delay, the merge gap, the tick that ends a
        run, half a tick of resampling and one source frame (<= a tick)."""
        return self.gap_ms + (self.info.delay + 3) * self.info.tick_ms

    def push(self, frame: FaceFrame) -> list[SpottedInterval]:
        face = face_input(frame.gray, self.info.size)
        for tick_ns, item in self.sampler.push(frame.pts_ns, face):
            self._submit(tick_ns, item)
        if self.autorun:
            self.runner.run()
        return self.take_ready()

    def flush(self) -> list[SpottedInterval]:
        for tick_ns, item in self.sampler.flush():
            self._submit(tick_ns, item)
        # The last `delay` ticks are described only by ticks after the end. They are
        # scored on `delay` padding ticks: the last face plus the tick-to-tick changes
        # of the track's last faces (over sqrt 2: one frame's sensor noise), i.e. the
        # face holding still with its own noise. So an expression in a stream's last
        # 400 ms is reported. Tried on the bundled model (session 13): a frozen last
        # face fires (never trained on a picture without noise); the last faces played
        # back in reverse hide an expression that just ended (it looks like two back to
        # back); still-with-noise found 8 of 8 expressions planted at the end of 5 s
        # scenes with blinks, head motion and speech, and added no false alarm there.
        last = self._last_tick_ns
        for k, face in enumerate(self._still_with_noise(), 1):
            assert last is not None
            self._submit(last + k * self.tick_ns, face, padding=True)
        self.runner.run()
        self._close_run()
        self._finalise(None)
        return self.take_ready()

    # -- runner side ---------------------------------------------------------------------

    def take_ready(self) -> list[SpottedInterval]:
        """The intervals that became final since the last call."""
        out, self._ready = self._ready, []
        return out

    def _still_with_noise(self) -> list[np.ndarray]:
        """The padding faces for :meth:`flush` (none for a track of under 2 ticks)."""
        recent = [f.astype(np.float32) for f in self._recent]
        if self._last_tick_ns is None or len(recent) < 2:
            return []
        steps = [(b - a) / math.sqrt(2) for a, b in zip(recent, recent[1:], strict=False)]
        dtype = self._recent[-1].dtype
        return [np.clip(np.rint(recent[-1] + steps[-k % len(steps)]), 0, 255).astype(dtype)
                for k in range(1, self.info.delay + 1)]

    def _submit(self, tick_ns: int, face: np.ndarray, padding: bool = False) -> None:
        if self._t0 is None:
            self._t0 = tick_ns
            for _ in range(self.info.window - 1):    # a new track: the first face repeated
                self._window.append(face)
        self._window.append(face)
        if not padding:
            self._last_tick_ns = tick_ns
            self._recent.append(face)
        self.runner.submit(self, tick_ns, np.stack(self._window))

    def scored(self, tick_ns: int, logit: float, state: np.ndarray) -> None:
        """The runner's result for ``tick_ns``: it describes ``delay`` ticks before."""
        self.state = state
        described = tick_ns - self.info.delay * self.tick_ns
        if self._t0 is None or described < self._t0:
            return
        p = 1.0 / (1.0 + math.exp(-logit))
        self._history.append((described, p))
        self._described_ns = described
        if p >= self.low:
            if self._run is None:
                self._run = [described, described, described, p]
            else:
                self._run[1] = described
                if p > self._run[3]:
                    self._run[2], self._run[3] = described, p
        else:
            self._close_run()
        self._finalise(described)

    def _close_run(self) -> None:
        run, self._run = self._run, None
        if run is None or run[3] < self.threshold:
            return
        half = self.tick_ns // 2
        iv = SpottedInterval(run[0] - half, run[2], run[1] + half, run[3], "micro", self.name)
        if self._candidates and iv.onset_ns - self._candidates[-1].offset_ns <= self.gap_ms * 1e6:
            last = self._candidates[-1]
            best = iv if iv.score > last.score else last
            self._candidates[-1] = SpottedInterval(last.onset_ns, best.apex_ns, iv.offset_ns,
                                                   best.score, "micro", self.name)
        else:
            self._candidates.append(iv)

    def _finalise(self, now_ns: int | None) -> None:
        """Candidates that no later run can merge with any more become final."""
        keep = []
        for iv in self._candidates:
            open_run = self._run is not None
            if now_ns is None or (not open_run and now_ns - iv.offset_ns > self.gap_ms * 1e6) \
                    or (open_run and self._run[0] - iv.offset_ns > self.gap_ms * 1e6):
                self._ready += limit_lengths([iv], self.limits)
            else:
                keep.append(iv)
        self._candidates = keep


def shared_runner(options: dict[str, Any]) -> tuple[StepRunner, dict[str, Any]]:
    """A runner for a stage's tracks made from its ``options`` (model, threads,
    batch_ms), and the options left for each track's :class:`LearnedSpotter`; checks the
    per-track ones by making a spotter."""
    from pipeline.spotting.options import check_options

    opts = check_options("learned", options)
    runner = StepRunner(opts.pop("model", None), opts.pop("threads", 1),
                        opts.pop("batch_ms", 5.0))
    LearnedSpotter(runner=runner, **opts)
    return runner, opts


def describe(runner: StepRunner) -> str:
    """One log line: the model and its metadata."""
    return f"{runner.path.name} ({json.dumps(runner.info.__dict__)})"
