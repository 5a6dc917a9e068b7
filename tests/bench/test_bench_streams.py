"""The streams benchmark's machinery: a real (tiny) load run measured from a real
subscriber, the search for the largest sustained load, and the looping wall-clock
synthetic source it relies on. No timing assertions: the machine is shared."""

from __future__ import annotations

import time

import numpy as np
import pytest

from bench.load_run import LoadResult, LoadSpec, _lag_growth, run_load
from bench.streams import (
    latency_rows,
    limit_row,
    profile_rows,
    search_max_streams,
)


@pytest.fixture(scope="module")
def tiny_run() -> LoadResult:
    return run_load(LoadSpec(streams=1, seconds=4.0, align_replicas=1), startup_timeout_s=120)


def test_tiny_run_counts_frames_and_lag_from_subscriber_records(tiny_run: LoadResult) -> None:
    r = tiny_run
    assert r.finished, r.notes
    assert r.frames_in == 120
    # Every frame has a face (the synthetic scene always shows one): the subscriber got
    # one track record per frame, so nothing was counted as dropped.
    assert 0 < r.frames_out <= r.frames_in
    assert r.drop_fraction == pytest.approx(1 - r.frames_out / 120)
    # Lags come from records: pts are the wall clock when the frame existed, so every
    # record arrives after its own pts.
    assert r.lag_ms and min(r.lag_ms) > 0
    assert np.isfinite(r.lag_growth_ms)
    stages = {p.stage for p in r.cpu}
    assert {"capture", "align", "spot", "classify", "publish"} <= stages


def test_rows_carry_figures_and_targets(tiny_run: LoadResult) -> None:
    parts = {"detect": 0.5, "landmarks": 5.0}
    rows = profile_rows(tiny_run, parts) + latency_rows(tiny_run) + [limit_row(tiny_run, parts)]
    assert len(rows) >= 5
    for bench, result, statistic, target in rows:
        assert bench and statistic and target
        assert any(c.isdigit() for c in result), result
    assert "p99 <= 100 ms" in [row[3] for row in rows]


def _fake(sustainable: int) -> tuple[list[int], object]:
    tried: list[int] = []

    def run(spec: LoadSpec) -> LoadResult:
        tried.append(spec.streams)
        ok = spec.streams <= sustainable
        return LoadResult(spec, 100, 100 if ok else 90, [10.0], 0.0 if ok else 900.0, [], [],
                          {}, [], 1.0, 30, 1.0, 0.1, True)
    return tried, run


@pytest.mark.parametrize(("sustainable", "best"), [(6, 6), (0, 0), (40, 32), (4, 4)])
def test_search_finds_the_largest_sustained_count(sustainable: int, best: int) -> None:
    tried, run = _fake(sustainable)
    found, runs = search_max_streams(LoadSpec(streams=1), run=run, max_runs=8)
    assert found == best
    assert set(runs) == set(tried)


def test_lag_growth_sees_a_pipeline_falling_behind() -> None:
    fps, n = 30, 300
    pts = [int(i * 1e9 / fps) for i in range(n)]
    steady = {"a": [(p, p + 50_000_000) for p in pts]}
    behind = {"a": [(p, p + 50_000_000 + i * 5_000_000) for i, p in enumerate(pts)]}
    assert _lag_growth(steady) == pytest.approx(0.0)
    assert _lag_growth(behind) > 500


def test_looping_source_plays_back_and_forth_with_wall_clock_pts() -> None:
    from pipeline.synth.source import synthetic_source

    src = synthetic_source("cam", seed=1, seconds=2, width=160, height=120, loop_frames=4,
                           wall_clock_pts=True)
    before = time.time_ns()
    src.open()
    got = [src.read() for _ in range(8)]
    images = [g[0] for g in got if g is not None]
    pts = [g[1] for g in got if g is not None]
    # 0 1 2 3 2 1 0 1: mirrored, never a jump back to the start
    assert np.array_equal(images[2], images[4]) and np.array_equal(images[1], images[5])
    assert np.array_equal(images[0], images[6]) and not np.array_equal(images[0], images[3])
    assert pts[0] >= before and all(b - a == pytest.approx(1e9 / 30, abs=1) for a, b in
                                    zip(pts, pts[1:], strict=False))


def test_align_with_landmark_every_3_aligns_every_frame_reusing_landmarks(tmp_path,
                                                                          run_pipeline):
    """The optimisation the benchmark measures: the tracker runs on frames 0, 3, 6, ...;
    the frames in between still give an aligned face, with the last landmarks (so the
    same box)."""
    from pipeline.client import EventSubscriber
    from tests.conftest import free_port, grid_clip, write_config
    from tests.pipeline.stages.test_capture_publish import collect

    port = free_port()
    config = write_config(tmp_path, {
        "name": "t-landmark-every",
        "sources": {"grid": {"type": "file", "path": str(grid_clip()), "realtime": False}},
        "stages": {"capture": {"type": "capture"},
                   "align": {"type": "align", "tracking": {"landmark_every": 3}},
                   "publish": {"type": "publish", "bind": f"tcp://127.0.0.1:{port}",
                               "wait_subscribers": 1}},
    })
    with EventSubscriber(f"tcp://127.0.0.1:{port}") as sub:
        run = run_pipeline(config)
        got = collect(sub, ["grid"], timeout_s=120)
        assert run.wait(60) == 0, run.log
    faces = [r for r in got["grid"] if r["type"] == "face"]
    assert [r["seq"] for r in faces] == list(range(75))  # one face every frame
    boxes = [tuple(r["box"]) for r in faces]
    groups = [boxes[i:i + 3] for i in range(0, 75, 3)]
    assert all(len(set(g)) == 1 for g in groups), "landmarks reused within a group"
    assert len({g[0] for g in groups}) > 1, "and located again at each group's start"


def _event(offset_ms: float, ahead_ms: float, spot_ms: float) -> dict:
    """An event record as the subscriber sees it; wall clocks in ms from 0."""
    ms = 1_000_000
    return {"interval": {"offset_ns": round(offset_ms * ms)},
            "latency_ms": {"offset_to_clip": ahead_ms, "infer": 5.0},
            "spot_emit_unix_ns": round(spot_ms * ms),
            "clip_arrived_unix_ns": round((spot_ms + 2) * ms),
            "classified_unix_ns": round((spot_ms + 12) * ms),
            "received_unix_ns": round((spot_ms + 13) * ms)}


def test_latency_parts_separate_queueing_from_look_ahead() -> None:
    from bench.load_run import _breakdown

    # Look-ahead 500 ms each; the second event's closing frame waited 300 ms in the
    # stages before spot emitted it.
    parts = _breakdown([_event(0, 500, 520), _event(1000, 500, 1800)])
    p50, p99 = parts["closing_frame_to_spot_emit"]
    assert p50 == pytest.approx(160) and p99 == pytest.approx(297, abs=1)
    assert parts["batch_wait_and_infer"] == (pytest.approx(10), pytest.approx(10))
    assert parts["offset_to_spot_emit"][1] == pytest.approx(797, abs=1)


def test_a_missed_latency_target_is_explained_by_its_largest_part() -> None:
    events = [_event(0, 500, 520), _event(1000, 500, 1800)]
    from bench.load_run import _breakdown

    r = LoadResult(LoadSpec(streams=4), 100, 100, [40.0, 250.0], 0.0,
                   [533.0, 813.0], [500.0, 500.0], _breakdown(events), [], 1.0, 30, 1.0,
                   0.1, True)
    rows = latency_rows(r)
    why = [row for row in rows if row[0].startswith("why event latency")]
    assert len(why) == 1
    assert "closing frame to spot emit" in why[0][1] and "297 ms" in why[0][1]
