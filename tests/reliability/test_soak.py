"""The CI soak: 2 streams for 2 minutes, as the issue asks (the benchmark runs 8 for
30 min): no process restarts, no record is lost, and after warm-up RSS and open fds of
every process stay flat (bounds and their reasons: bench/soak.py)."""

from __future__ import annotations

from bench.soak import run_soak


def test_two_streams_for_two_minutes_stay_flat():
    result = run_soak(streams=2, seconds=120, sample_s=2.0)
    assert result["exit_code"] == 0
    assert result["lost"] == 0 and result["records"] > 1000, result
    assert {"supervisor", "capture.0", "capture.1", "publish.0"} <= set(result["processes"])
    bad = {name: p for name, p in result["processes"].items() if not p["flat"]}
    assert not bad, bad
