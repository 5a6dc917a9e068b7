"""The publish stage splits each event's latency into its parts, from the wall clocks the
event carries (spot emit, clip arrived at classify, classified, published), into the
histograms an operator watches on /metrics."""

from __future__ import annotations

import time

from pipeline.messages import Classification, Event, Span
from tests.conftest import free_port


def test_an_events_latency_parts_go_to_the_histograms(tmp_path, stage_in_process) -> None:
    stage = stage_in_process({
        "name": "t-publish-metrics",
        "sources": {"cam": {"type": "testpattern", "frames": 1}},
        "stages": {"capture": {"type": "capture"},
                   "publish": {"type": "publish", "bind": f"tcp://127.0.0.1:{free_port()}"}},
    }, "publish")
    now = time.time_ns()
    spot, arrived, classified = now - 50_000_000, now - 40_000_000, now - 10_000_000
    c = Classification("negative", {"negative": 1.0}, None, None, None, {}, {}, arrived,
                       classified)
    event = Event("cam", 0, 1_500, 0, Span(1_000, 1_500, 2_000, 0.9, "micro", "learned"), c,
                  spot_emit_unix_ns=spot)
    list(stage.process(event.to_message()))
    h = stage.ctx.metrics.snapshot()["histograms"]
    assert abs(h["spot_to_classify_seconds"]["sum"] - 0.010) < 1e-9
    assert abs(h["classify_seconds"]["sum"] - 0.030) < 1e-9
    assert 0.010 <= h["classify_to_publish_seconds"]["sum"] < 5.0
    assert 0.050 <= h["event_seconds"]["sum"] < 5.0
    assert all(v["count"] == 1 for v in h.values() if v is not h.get("process_seconds"))
