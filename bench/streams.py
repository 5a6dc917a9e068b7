"""Streams per machine, event latency and the per-stage profile (issue 8, parts 1-2).

- **Streams sustained**: :func:`~bench.load_run.run_load` runs the real
  pipeline (``mestream run``: capture, align, spot, classify, publish, each its own
  process) with N real-time synthetic 640x480 30 fps streams; N is searched (4, 8, 16,
  ..., then bisection) for the largest load that is sustained: fewer than 1% of frames
  lost and a lag (subscriber clock - frame pts) that does not grow (last quarter's
  median - first quarter's <= 100 ms). Done twice: sources looping pre-rendered frames (a
  camera hands over a buffer at almost no CPU), and sources rendering every frame (the
  generator's CPU then competes with the pipeline's: the "before").
- **Profile**: CPU per frame of every stage process at the largest sustained N (and at
  16 when that is not sustained), from /proc; and, in one process, the split of one
  frame's work into generate / detect / landmarks / warp / spot / (de)serialise
  (:mod:`bench.stage_profile`).
- **Latency**: from the expression's offset frame pts to its event at the subscriber,
  p50 and p99 at 4 streams and at the largest sustained N; raw and beyond the spotter's
  own look-ahead for that event (its ``offset_to_clip``), which the target is about.

Example::

    from bench.streams import stream_rows
    for row in stream_rows(quick=True):   # about a minute
        print(" | ".join(row))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from bench.load_run import (
    DROP_LIMIT,
    LAG_GROWTH_LIMIT_MS,
    LoadResult,
    LoadSpec,
    run_load,
    shipped,
)

Row = tuple[str, str, str, str]

NOTES = [
    "Streams rows run the real pipeline (`mestream run` of a generated YAML, like",
    "configs/bench/streams.yaml: one OS process per stage replica, ZeroMQ between them)",
    "with N synthetic 640x480 30 fps streams paced in real time, for 20 s each, and a",
    "subscriber counting the per-frame track records the spot stage publishes",
    "(`emit_tracks` with `track_landmarks: false`: small records, still some CPU in spot",
    "and publish, which the profile row shows). Capture's frames reach align through",
    "the shared-memory frame ring (`transport.frame_ring: auto`). Frame pts are the",
    "wall clock at which the frame existed, so lag = subscriber",
    "clock - pts. Sustained = drops < 1% and lag not growing (last quarter's median minus",
    "the first quarter's <= 100 ms, the first 2 s skipped). N is searched 4, 8, 16, ...",
    "then bisected. Pre-rendered sources loop 48 frames of the generator forwards and",
    "backwards (what a camera costs: a buffer handed over); live sources render every",
    "frame (the generator's CPU, 2-16 ms a frame, then competes with the pipeline).",
    "Profile: CPU seconds of each stage process from /proc over the middle of the run,",
    "per frame that reached the subscriber; the split inside a frame is the same code",
    "timed in one process (process CPU time). Event latency: subscriber clock at the",
    "event - the pts of the interval's offset frame; 'beyond look-ahead' subtracts that",
    "event's own offset_to_clip (pts of the frame that closed the interval - offset pts).",
    "Synthetic data throughout; the classifier's weights were trained on synthetic data.",
]
TARGET_STREAMS = 16
TARGET_P99_MS = 100.0
CORES_NOTE = "2-core CPU"


def search_max_streams(base: LoadSpec, start: int = 4, limit: int = 32, max_runs: int = 5,
                       run: Callable[[LoadSpec], LoadResult] = run_load
                       ) -> tuple[int, dict[int, LoadResult]]:
    """The largest sustained stream count (0 if even one stream is not) and every run.

    Doubles from ``start`` while sustained, then bisects between the largest sustained
    and the smallest unsustained count; stops after ``max_runs`` runs.
    """
    results: dict[int, LoadResult] = {}
    lo, hi, n = 0, None, start
    while len(results) < max_runs and n not in results and 1 <= n <= limit:
        results[n] = r = run(replace(base, streams=n))
        print(f"  {n} streams: {_verdict(r)}", flush=True)
        if r.sustained:
            lo = n
            n = n * 2 if hi is None else (lo + hi) // 2
        else:
            hi = n
            n = (lo + hi) // 2
        if hi is not None and hi - lo <= 1:
            break
    return lo, results


def _verdict(r: LoadResult) -> str:
    return (f"{'sustained' if r.sustained else 'NOT sustained'} (lag growth "
            f"{_ms(r.lag_growth_ms)}, drops {r.drop_fraction:.1%}"
            f"{'' if r.finished else ', stopped at the deadline'})")


def _ms(v: float) -> str:
    return "inf" if not np.isfinite(v) else f"{v:.0f} ms"


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def streams_row(label: str, best: int, runs: dict[int, LoadResult], base: LoadSpec) -> Row:
    tried = ", ".join(f"{n}: {'ok' if r.sustained else 'no'} (lag +{_ms(r.lag_growth_ms)}, "
                      f"drops {r.drop_fraction:.1%})" for n, r in sorted(runs.items()))
    at_best = runs.get(best)
    lag = (f"; frame lag at {best}: p50 {_pct(at_best.lag_ms, 50):.0f} ms, p99 "
           f"{_pct(at_best.lag_ms, 99):.0f} ms" if at_best is not None else "")
    return (f"streams sustained, {label}, 640x480 30 fps synthetic, full pipeline "
            f"({base.describe()}), {base.seconds:.0f} s runs",
            f"{best} streams{lag} [{tried}]",
            f"largest N with drops < {DROP_LIMIT:.0%} and lag growth <= "
            f"{LAG_GROWTH_LIMIT_MS:.0f} ms (last vs first quarter)",
            f">= {TARGET_STREAMS}")


def profile_rows(r: LoadResult, parts: dict[str, float] | None) -> list[Row]:
    """CPU per frame of each stage process at this load, and what it means in streams."""
    n = r.spec.streams
    per = r.cpu_ms_per_frame()
    sub = r.subscriber_cpu_s * 1000.0 / max(1, r.frames_in_window)
    total = sum(per.values()) + sub
    order = ["capture", "align", "spot", "classify", "publish", "supervisor"]
    listed = ", ".join(f"{k} {per[k]:.2f}" for k in order if k in per)
    capacity = 2000.0 / (total * r.spec.fps) if total else float("nan")
    window = max(r.cpu_window_s, 1e-9)
    ours = (sum(p.cpu_s for p in r.cpu) + r.subscriber_cpu_s) / window
    others = max(0.0, r.machine_busy_cores - ours)
    rows = [(f"profile at {n} streams ({'sustained' if r.sustained else 'NOT sustained'}): "
             "CPU per frame of each stage process (replicas summed), from /proc",
             f"{listed}, subscriber {sub:.2f}; total {total:.1f} ms/frame -> 2 cores carry "
             f"{capacity:.1f} streams of 30 fps (in the window the pipeline used "
             f"{ours:.2f} cores, other jobs on the machine {others:.2f})",
             f"ms CPU per frame over {r.cpu_window_s:.0f} s, {r.frames_in_window} frames",
             f"<= {2000.0 / (TARGET_STREAMS * 30):.1f} ms/frame in all for {TARGET_STREAMS} "
             "streams on 2 cores")]
    if parts:
        named = ", ".join(f"{k} {v:.2f}" for k, v in parts.items())
        align_work = sum(parts.get(k, 0.0) for k in ("detect", "landmarks",
                                                     "align (warp, crops)"))
        spot_work = parts.get("spot (flow spotter)", 0.0)
        work = sum(v for k, v in parts.items() if "comparison" not in k)
        rows.append((f"profile at {n} streams: stage CPU beyond its own work (runtime loop, "
                     "sockets, (de)serialising, per-frame records, contention)",
                     f"align {per.get('align', 0.0) - align_work:.2f} (of "
                     f"{per.get('align', 0.0):.2f}), spot {per.get('spot', 0.0) - spot_work:.2f}"
                     f" (of {per.get('spot', 0.0):.2f})",
                     "ms CPU per frame: the process's minus the in-process split below",
                     "(the smaller the better)"))
        rows.append(("profile, one frame's work split in one process (same code, synthetic "
                     "640x480, detector every 5th frame, 64 px faces)",
                     f"{named}; sum {work:.1f} ms",
                     "ms CPU per frame (process CPU time, so other jobs barely count)",
                     "where the stage CPU above goes"))
    return rows


def limit_row(r: LoadResult, parts: dict[str, float]) -> Row:
    """Why the stream count stops where it does, from the profile, and what would fix it."""
    total = sum(r.cpu_ms_per_frame().values()) + r.subscriber_cpu_s * 1000.0 / max(
        1, r.frames_in_window)
    work = {k: v for k, v in parts.items() if "comparison" not in k}
    top = sorted(work.items(), key=lambda kv: -kv[1])[:3]
    budget = 2000.0 / (TARGET_STREAMS * r.spec.fps)
    cores = total * TARGET_STREAMS * r.spec.fps / 1000.0
    return ("what limits the stream count (from the profile rows)",
            f"{total:.1f} ms CPU a frame against a {budget:.1f} ms budget: {TARGET_STREAMS} "
            f"streams need about {cores:.1f} cores of this CPU. Largest parts: "
            + ", ".join(f"{k} {v:.1f} ms" for k, v in top)
            + ". Fixes: landmarks on fewer frames (tracking.landmark_every; measured beside), "
            "a cheaper or batched landmark model (one ORT call for all streams' crops), a "
            "cheaper spotter, more cores or a GPU",
            "CPU ms per frame, all processes", f">= {TARGET_STREAMS} streams")


def latency_rows(r: LoadResult) -> list[Row]:
    n = r.spec.streams
    raw = r.event_latency_ms
    beyond = [a - b for a, b in zip(raw, r.event_lookahead_ms, strict=True)]
    from pipeline.stages.spot.stage import make_spotter

    declared = make_spotter(r.spec.spotter, 300.0, {}).latency_ms
    lag = r.lag_ms
    rows = [
        (f"event latency at {n} streams: expression offset pts -> event at the subscriber, "
         "beyond the spotter's own look-ahead for that event",
         f"p50 {_pct(beyond, 50):.0f} ms, p99 {_pct(beyond, 99):.0f} ms ({len(beyond)} "
         "events)", "p50 / p99 over events", f"p99 <= {TARGET_P99_MS:.0f} ms"),
        (f"event latency at {n} streams, raw (look-ahead included; the {r.spec.spotter} "
         f"spotter declares at most {declared:.0f} ms)",
         f"p50 {_pct(raw, 50):.0f} ms, p99 {_pct(raw, 99):.0f} ms; minus the declared "
         f"bound: p99 {_pct(raw, 99) - declared:.0f} ms", "p50 / p99 over events",
         "(look-ahead is the window's own)"),
        (f"frame lag at {n} streams: subscriber clock - frame pts of each track record",
         f"p50 {_pct(lag, 50):.0f} ms, p99 {_pct(lag, 99):.0f} ms", "p50 / p99 over frames "
         "after the first 2 s", "(no target; the sustained test uses its growth)"),
    ]
    if r.event_breakdown_ms:
        b = r.event_breakdown_ms
        rows.append((f"event latency at {n} streams, where it goes",
                     ", ".join(f"{k.replace('_', ' ')} {p50:.0f} / {p99:.0f}"
                               for k, (p50, p99) in b.items()),
                     "p50 / p99 ms per part, wall clocks the event carries",
                     "(offset to spot emit includes the look-ahead)"))
        if beyond and _pct(beyond, 99) > TARGET_P99_MS:
            rows.append(latency_why_row(r))
    return rows


def latency_why_row(r: LoadResult) -> Row:
    """Why the p99 beyond the look-ahead misses its target, from the p99 parts."""
    b = {k: v for k, v in r.event_breakdown_ms.items()
         if k not in ("offset_to_spot_emit", "of_which_infer")}
    worst, (_, p99) = max(b.items(), key=lambda kv: kv[1][1])
    lag = r.lag_ms
    return (f"why event latency at {r.spec.streams} streams misses (from the parts above)",
            f"the largest p99 part is {worst.replace('_', ' ')} ({p99:.0f} ms). Closing "
            "frame to spot emit is the frames' own queueing through capture, align and "
            f"spot (the frame lag beside it: p50 {_pct(lag, 50):.0f}, p99 {_pct(lag, 99):.0f} "
            "ms): near the sustained maximum the align and spot processes are busy almost "
            "all the time, so a frame that arrives during a detector or landmark pass "
            "waits for it. What would fix it: headroom (fewer streams per core: the "
            "lighter-load row), the per-frame CPU cuts of the stream-count row, and a "
            "spot stage that scores a track's frames as they come rather than behind "
            "other tracks' frames", "analysis", f"p99 <= {TARGET_P99_MS:.0f} ms")


def stream_rows(quick: bool) -> list[Row]:
    """The rows for BENCHMARKS.md; see the module docstring. ``quick``: one short run
    at 2 streams, no search (under about a minute)."""
    from bench.stage_profile import profile_parts

    rows: list[Row] = []
    if quick:
        r = run_load(shipped(2, seconds=8.0))
        rows.append((f"streams, SHIPPED configuration (quick: 2 streams, 8 s, no search; "
                     f"{r.spec.describe()})", f"{_verdict(r)}", "drops, lag growth",
                     f">= {TARGET_STREAMS} (full run searches)"))
        r = run_load(LoadSpec(streams=2, seconds=8.0))
        rows.append((f"streams (quick: 2 streams, 8 s, no search; {r.spec.describe()})",
                     f"{_verdict(r)}", "drops, lag growth", f">= {TARGET_STREAMS} "
                     "(full run searches)"))
        parts = profile_parts(frames=45, loop_frames=48)
        rows += profile_rows(r, parts)
        rows.append(limit_row(r, parts))
        rows += latency_rows(r)
        return rows
    # The headline: what `make demo` ships (configs/demo.yaml's align, spot, classify).
    ship = shipped(4)
    print("streams sustained, shipped configuration:", flush=True)
    best_ship, runs_ship = search_max_streams(ship)
    rows.append(streams_row("SHIPPED configuration (configs/demo.yaml: 128 px one-euro "
                            "alignment, learned spotter, AU recogniser), pre-rendered "
                            "sources", best_ship, runs_ship, ship))
    if runs_ship.get(best_ship) is not None:
        rows += [(f"{b} (shipped configuration)", *rest)
                 for b, *rest in profile_rows(runs_ship[best_ship], None)]
        rows += [(f"{b} (shipped configuration)", *rest)
                 for b, *rest in latency_rows(runs_ship[best_ship])[:1]]
    # The next fix, measured beside it: the fast mesh (not shipped: the bundled spotter,
    # trained on refined-mesh crops, loses F1 with it; lab/alignment/README.md).
    fast = replace(ship, mesh="fast")
    print("streams sustained, shipped configuration with the fast mesh:", flush=True)
    best_fast, runs_fast = search_max_streams(fast, start=max(2, best_ship), max_runs=4)
    rows.append(streams_row("shipped configuration with tracking.mesh: fast (NOT shipped: "
                            "the bundled spotter loses F1 with it)", best_fast, runs_fast,
                            fast))
    if runs_fast.get(best_fast) is not None:
        rows += [(f"{b} (fast mesh)", *rest)
                 for b, *rest in profile_rows(runs_fast[best_fast], None)]
    # The lighter configurations beside it.
    base = LoadSpec(streams=4, seconds=20.0)
    print("streams sustained, pre-rendered sources:", flush=True)
    best, runs = search_max_streams(base)
    rows.append(streams_row("pre-rendered sources (a camera's cost)", best, runs, base))
    # The one optimisation measured side by side: the landmark model is most of the
    # CPU, so locate landmarks on every 2nd frame only (tracking.landmark_every).
    fewer = replace(base, landmark_every=2)
    print("streams sustained, landmarks every 2nd frame:", flush=True)
    best_fewer, runs_fewer = search_max_streams(fewer, start=max(2, best), max_runs=4)
    rows.append(streams_row("pre-rendered sources, landmarks on every 2nd frame",
                            best_fewer, runs_fewer, fewer))
    live = replace(base, loop_frames=None, capture_replicas=2)
    print("streams sustained, sources rendered live:", flush=True)
    best_live, runs_live = search_max_streams(live, start=max(1, min(4, best)), max_runs=3)
    rows.append(streams_row("sources rendered live (generator CPU on the same cores)",
                            best_live, runs_live, live))
    parts = profile_parts(frames=150, loop_frames=48)
    parts["generate (rendered live, for comparison)"] = profile_parts(
        frames=60, loop_frames=None)["generate"]
    at_max = runs.get(best)
    if at_max is not None:
        rows += profile_rows(at_max, parts)
    if runs_fewer.get(best_fewer) is not None:
        rows += [(f"{b} (landmarks every 2nd frame)", *rest)
                 for b, *rest in profile_rows(runs_fewer[best_fewer], None)]
    if TARGET_STREAMS not in runs and best < TARGET_STREAMS:
        print(f"profile at {TARGET_STREAMS} streams:", flush=True)
        runs[TARGET_STREAMS] = run_load(replace(base, streams=TARGET_STREAMS))
    if best < TARGET_STREAMS:  # the in-process split goes here if no load was sustained
        rows += profile_rows(runs[TARGET_STREAMS], None if at_max is not None else parts)
    rows.append(limit_row(at_max if at_max is not None else runs[TARGET_STREAMS], parts))
    four = runs.get(4) or run_load(replace(base, streams=4))
    rows += latency_rows(four)
    if at_max is not None and best != 4:
        rows += latency_rows(at_max)
    # The same pipeline with headroom: is the p99 the stages' work or their queues?
    print("event latency with headroom (2 streams):", flush=True)
    light = runs.get(2) or run_load(replace(base, streams=2))
    rows += [(f"{what} (lighter-load row)", *rest)
             for what, *rest in latency_rows(light)[:1]]
    return rows
