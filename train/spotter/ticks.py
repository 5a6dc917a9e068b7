"""Cached scenes (:mod:`train.spotter.data`) -> per-track tick sequences and per-tick
labels, resampled exactly as the runtime spotter does (:class:`TickSampler`).

Label of tick ``t``: 1 when at least half of ``[t - tick/2, t + tick/2)`` lies inside a
micro-expression; a weight of ``macro_weight`` (instead of 1) when a macro-expression covers
it (target 0: a macro-expression must not be reported as micro, but its start looks like
one, so it counts less).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.spotting.learned_ticks import TickSampler


@dataclass
class TickTrack:
    """One face track of one cached scene at the tick rate."""

    name: str
    ticks_ns: np.ndarray      # int64 (K,)
    faces: np.ndarray         # uint8 (K, S, S)
    labels: np.ndarray        # float32 (K,)
    weights: np.ndarray       # float32 (K,)
    micro: np.ndarray         # int64 (M, 2) GT micro spans, ns
    video_ms: float
    source: Path | None = None  # the cached scene it was read from


def event_ticks(track: TickTrack, span: tuple[int, int], tick_ns: int) -> np.ndarray:
    """bool (K,): the ticks of ``track`` that one GT span labels positive (the rule of the
    labels: at least half the tick inside)."""
    return positive_ticks(track.ticks_ns, np.asarray([span]), tick_ns // 2)


def positive_ticks(ticks: np.ndarray, spans: np.ndarray, half: int) -> np.ndarray:
    """bool: at least half of each tick lies inside one of ``spans``."""
    return tick_cover(ticks, spans, half) >= 0.5


def tick_cover(ticks: np.ndarray, spans: np.ndarray, half: int) -> np.ndarray:
    """float32: the largest share of each tick ``[t - half, t + half)`` inside one span."""
    out = np.zeros(len(ticks), np.float32)
    for a, b in spans:
        lo = np.maximum(ticks - half, a)
        hi = np.minimum(ticks + half, b)
        out = np.maximum(out, np.clip(hi - lo, 0, None) / (2 * half))
    return out


def track_ticks(d, tick_ms: float) -> list[tuple[int, np.ndarray, list[int], int]]:
    """Each track of a loaded cache ``d`` resampled as the runtime does (:class:`TickSampler`):
    (track id, tick times ns, the cache row of each tick's face, the tick in ns); tracks
    with no tick are left out."""
    out = []
    for track in np.unique(d["tracks"]):
        sampler = TickSampler(tick_ms)
        ticks: list[tuple[int, int]] = []
        for i in np.flatnonzero(d["tracks"] == track):
            ticks += sampler.push(int(d["pts"][i]), int(i))
        ticks += sampler.flush()
        if ticks:
            out.append((int(track), np.asarray([k for k, _ in ticks], np.int64),
                        [i for _, i in ticks], sampler.tick_ns))
    return out


def tick_tracks(path: Path, tick_ms: float, macro_weight: float = 0.3) -> list[TickTrack]:
    """The tracks of one cached scene."""
    d = np.load(path)
    out = []
    for track, t, rows, tick_ns in track_ticks(d, tick_ms):
        half = tick_ns // 2
        labels = positive_ticks(t, d["micro"], half).astype(np.float32)
        weights = np.where(tick_cover(t, d["macro"], half) > 0, macro_weight,
                           1.0).astype(np.float32)
        out.append(TickTrack(f"{path.stem}/{track}", t, d["faces"][rows], labels, weights,
                             d["micro"], float(d["video_ms"]), path))
    return out


def load_dirs(dirs: list[Path], tick_ms: float, macro_weight: float = 0.3,
              globs: list[str] | None = None) -> list[TickTrack]:
    """The cached scenes under ``dirs`` whose names match one of ``globs`` (default all),
    sorted by name, so runs are reproducible."""
    out: list[TickTrack] = []
    for d in dirs:
        for p in sorted(Path(d).glob("*.npz")):
            if p.name.endswith(".tmp.npz"):
                continue
            if globs is None or any(fnmatch.fnmatch(p.name, g) for g in globs):
                out += tick_tracks(p, tick_ms, macro_weight)
    return out
