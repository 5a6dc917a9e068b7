"""Clip preparation: a dataset :class:`Sample` -> aligned gray face, eye and mouth clips of
a fixed length T, through THE SAME face tracking and alignment code the ``align`` stage
runs when serving (``pipeline.faces``), so a model sees at training time exactly the crops
it will see live.

Per frame: ``FaceTracker.update`` -> ``FaceAligner.align`` -> ``AlignedFace.gray`` (S x S),
``.eyes`` and ``.mouth`` (R x R). ``stabilise="hold"`` with a hold longer than any clip
aligns the whole clip to its first frame's transform, as the ME literature does (CASME II
and SAMM ship clips registered to their first frame); ``"one_euro"`` is what a live
pipeline with default settings does.

Temporal normalisation to T frames:

- ``"interpolate"`` (default): the span onset - margin .. offset + margin is aligned and
  linearly resampled to T frames (an option in docs/papers.md 4.2, the common choice).
- ``"fixed_window"``: the seed code's truncation (CAS(ME)^2 frames 72..167, SMIC the first
  18): T consecutive frames from ``window_start`` (counted from the span's first frame),
  the last frame repeated when the clip is shorter.

Face alignment is the slow part (MediaPipe per frame), so the aligned frames are cached on
disk as ``.npz``, keyed by the frame paths + their sizes and mtimes + the alignment
parameters; the resampling to T is cheap and redone from the cache.

Example (a synthetic CASME II dataset)::

    samples = read_dataset("casme2", Path("data/synth/casme2"))
    clip = prepare_clip(samples[0], frames=24)
    clip.face.shape, clip.eyes.shape      # (24, 64, 64), (24, 32, 32)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from pipeline.stages.spot.windowing import interpolation_weights
from train.datasets.sample import Sample

logger = logging.getLogger(__name__)

Mode = Literal["interpolate", "fixed_window"]
Stabilise = Literal["hold", "one_euro"]
MODES = ("interpolate", "fixed_window")
STABILISE = ("hold", "one_euro")
# Bump when the alignment output changes, so stale cache entries are never read.
CACHE_VERSION = 1
# A hold this long (ms) never expires within a clip: the clip keeps its first frame's
# transform unless the head drifts (max_drift_px).
FIRST_FRAME_HOLD_MS = 1e9


class ClipError(RuntimeError):
    """A clip cannot be prepared; the message names the clip."""


@dataclass(frozen=True)
class AlignParams:
    """What determines the aligned frames (part of the cache key)."""

    size: int = 64
    region_size: int = 32
    stabilise: Stabilise = "hold"
    hold_ms: float = FIRST_FRAME_HOLD_MS
    max_drift_px: float = 1.0
    backend: str = "mediapipe"
    detect_every: int = 5
    min_face_px: int = 32


@dataclass(frozen=True)
class AlignedFrames:
    """Aligned crops of consecutive frames ``first .. first + len - 1`` of a sample."""

    face: np.ndarray        # (n, S, S) uint8
    eyes: np.ndarray        # (n, R, R) uint8
    mouth: np.ndarray       # (n, R, R) uint8
    first: int              # index into sample.frames of face[0]
    missing: int            # frames without a face (the previous aligned frame reused)
    from_cache: bool


@dataclass(frozen=True)
class PreparedClip:
    """One sample, aligned and normalised to T frames; onset/apex/offset are indices into
    the T frames (clipped to 0..T-1), for spotting targets."""

    face: np.ndarray        # (T, S, S) uint8
    eyes: np.ndarray        # (T, R, R) uint8
    mouth: np.ndarray       # (T, R, R) uint8
    label: str | None
    subject: str
    dataset: str
    clip: str
    onset: int
    apex: int
    offset: int
    missing: int            # source frames that had no face
    from_cache: bool


def default_cache_dir() -> Path:
    """``$MESTREAM_CACHE/clips``, else ``.cache/mestream/clips`` in the repository, else
    ``~/.cache/mestream/clips`` when the repository is not writable."""
    env = os.environ.get("MESTREAM_CACHE")
    if env:
        return Path(env) / "clips"
    repo = Path(__file__).resolve().parents[1]
    if os.access(repo, os.W_OK):
        return repo / ".cache" / "mestream" / "clips"
    return Path.home() / ".cache" / "mestream" / "clips"


def _cache_key(sample: Sample, first: int, last: int, params: AlignParams) -> str:
    h = hashlib.sha256()
    for path in sample.frames[first:last + 1]:
        st = path.stat()
        h.update(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    h.update(json.dumps({"v": CACHE_VERSION, "fps": sample.fps, **asdict(params)},
                        sort_keys=True).encode())
    return h.hexdigest()[:32]


_BACKENDS: dict[str, object] = {}


def _backend(name: str):
    # Loading the MediaPipe models takes ~1 s; one backend serves every clip of a process.
    if name not in _BACKENDS:
        from pipeline.faces import open_backend

        _BACKENDS[name] = open_backend(name)
    return _BACKENDS[name]


def _align(sample: Sample, first: int, last: int, params: AlignParams) -> AlignedFrames:
    from pipeline.faces import FaceAligner, FaceTracker

    where = f"{sample.dataset} {sample.subject}/{sample.clip}"
    tracker = FaceTracker(_backend(params.backend), detect_every=params.detect_every,
                          max_faces=1, min_face_px=params.min_face_px)
    aligner = FaceAligner(size=params.size, region_size=params.region_size,
                          stabilise=params.stabilise, hold_ms=params.hold_ms,
                          max_drift_px=params.max_drift_px)
    faces: list[tuple[np.ndarray, np.ndarray, np.ndarray] | None] = []
    try:
        for i in range(first, last + 1):
            image = cv2.imread(str(sample.frames[i]), cv2.IMREAD_COLOR)
            if image is None:
                raise ClipError(f"{where}: cannot read frame {sample.frames[i]}")
            pts_ns = round((i - first) * 1e9 / sample.fps)
            tracks = tracker.update(image, pts_ns)
            for ended in tracker.pop_ended():
                aligner.forget(ended)
            if not tracks:
                faces.append(None)
                continue
            t = tracks[0]
            a = aligner.align(t.id, image, t.landmarks, pts_ns, t.det_score)
            faces.append((a.gray, a.eyes, a.mouth))
    finally:
        tracker.close()
    found = [f for f in faces if f is not None]
    if not found:
        raise ClipError(f"{where}: no face found in any of frames {first}..{last} "
                        f"({sample.frames[first].parent})")
    # A frame without a face repeats the previous aligned frame (the first found one for
    # leading gaps), so the clip keeps its length and timing.
    filled, previous = [], found[0]
    for f in faces:
        previous = f if f is not None else previous
        filled.append(previous)
    missing = len(faces) - len(found)
    if missing:
        logger.warning("%s: no face in %d of %d frames; previous frame reused", where,
                       missing, len(faces))
    return AlignedFrames(face=np.stack([f[0] for f in filled]),
                         eyes=np.stack([f[1] for f in filled]),
                         mouth=np.stack([f[2] for f in filled]),
                         first=first, missing=missing, from_cache=False)


def align_frames(sample: Sample, first: int, last: int, params: AlignParams,
                 cache_dir: Path | None = None) -> AlignedFrames:
    """Aligned crops of ``sample.frames[first..last]`` (inclusive), from the cache when
    the same frames (paths, sizes, mtimes) were aligned with the same ``params``."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = cache / f"{_cache_key(sample, first, last, params)}.npz"
    if path.exists():
        try:
            with np.load(path) as z:
                return AlignedFrames(face=z["face"], eyes=z["eyes"], mouth=z["mouth"],
                                     first=int(z["first"]), missing=int(z["missing"]),
                                     from_cache=True)
        except (OSError, KeyError, ValueError) as exc:   # a torn write: redo it
            logger.warning("%s: unreadable cache entry (%s); re-aligning", path, exc)
    aligned = _align(sample, first, last, params)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez_compressed(tmp, face=aligned.face, eyes=aligned.eyes, mouth=aligned.mouth,
                        first=aligned.first, missing=aligned.missing)
    os.replace(tmp, path)      # atomic: concurrent preparers never read half a file
    return aligned


def interpolate(stack: np.ndarray, frames: int) -> np.ndarray:
    """Linear temporal interpolation of ``(n, H, W)`` uint8 to ``(frames, H, W)`` uint8,
    frames evenly spread from the first to the last: the serving path's resampling
    (:meth:`pipeline.stages.spot.windowing.ClipWindow.clip`, linear in time) on frame indices, so a
    constant-rate training clip is resampled exactly as the spot stage resamples it.

    Example:
        >>> x = np.stack([np.full((2, 2), v, np.uint8) for v in (0, 100)])
        >>> interpolate(x, 3)[:, 0, 0].tolist()
        [0, 50, 100]
    """
    if len(stack) == 1:
        return np.repeat(stack, frames, axis=0)
    pos = np.arange(len(stack), dtype=np.float64)
    lo, hi, w = interpolation_weights(pos, np.linspace(0.0, len(stack) - 1.0, frames))
    w = w.reshape(-1, *([1] * (stack.ndim - 1)))
    out = stack[lo].astype(np.float32) * (1 - w) + stack[hi].astype(np.float32) * w
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _pad(stack: np.ndarray, frames: int) -> np.ndarray:
    if len(stack) >= frames:
        return stack[:frames]
    return np.concatenate([stack, np.repeat(stack[-1:], frames - len(stack), axis=0)])


def prepare_clip(sample: Sample, size: int = 64, region_size: int = 32, frames: int = 24,
                 mode: Mode = "interpolate", window_start: int = 0,
                 stabilise: Stabilise = "hold", margin: int = 0,
                 cache_dir: Path | None = None, backend: str = "mediapipe",
                 hold_ms: float = FIRST_FRAME_HOLD_MS,
                 max_drift_px: float = 1.0) -> PreparedClip:
    """Align ``sample`` and normalise it to ``frames`` frames (module docstring).

    Args:
        sample: from a dataset reader; for long-video datasets only the expression's span
            (plus ``margin``) is read, never the whole video.
        size, region_size: aligned face side S and eye/mouth crop side R.
        frames: T.
        mode: ``"interpolate"`` or ``"fixed_window"``.
        window_start: fixed_window: first frame, counted from onset - margin.
        stabilise: ``"hold"`` (align the clip to its first frame) or ``"one_euro"``.
        margin: frames before the onset and after the offset to include (clamped).

    Raises:
        ClipError: no face in any frame of the clip (the message names the clip).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if stabilise not in STABILISE:
        raise ValueError(f"stabilise must be one of {STABILISE}, got {stabilise!r}")
    if frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    params = AlignParams(size=size, region_size=region_size, stabilise=stabilise,
                         hold_ms=hold_ms, max_drift_px=max_drift_px, backend=backend)
    n = len(sample.frames)
    start = max(0, sample.onset - margin)
    if mode == "interpolate":
        first, last = start, min(n - 1, sample.offset + margin)
    else:
        first = min(n - 1, start + window_start)
        last = min(n - 1, first + frames - 1)
    aligned = align_frames(sample, first, last, params, cache_dir)
    if mode == "interpolate":
        scale = (frames - 1) / max(1, last - first)

        def to_t(i: int) -> int:
            return int(np.clip(round((i - first) * scale), 0, frames - 1))

        face, eyes, mouth = (interpolate(a, frames)
                             for a in (aligned.face, aligned.eyes, aligned.mouth))
    else:

        def to_t(i: int) -> int:
            return int(np.clip(i - first, 0, frames - 1))

        face, eyes, mouth = (_pad(a, frames) for a in (aligned.face, aligned.eyes, aligned.mouth))
    return PreparedClip(face=face, eyes=eyes, mouth=mouth, label=sample.label,
                        subject=sample.subject, dataset=sample.dataset, clip=sample.clip,
                        onset=to_t(sample.onset), apex=to_t(sample.apex_or_middle()),
                        offset=to_t(sample.offset), missing=aligned.missing,
                        from_cache=aligned.from_cache)
