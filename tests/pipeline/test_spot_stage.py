"""capture -> align -> spot -> publish: a scripted micro-expression on a still real face
comes out as one spotting event around its true interval; end-of-stream follows."""

from __future__ import annotations

from pipeline.client import EventSubscriber
from tests.conftest import free_port, write_config
from tests.pipeline.test_capture_publish import collect


def test_a_scripted_micro_expression_is_spotted_online(tmp_path, run_pipeline):
    port = free_port()
    config = write_config(tmp_path, {
        "name": "t-spot",
        "sources": {"cam": {"type": "python", "factory": "tests.scripted_source:make",
                            "options": {"fps": 30, "seconds": 5, "onset_s": 2.5},
                            "realtime": False}},
        "stages": {"capture": {"type": "capture"},
                   "align": {"type": "align"},
                   "spot": {"type": "spot", "spotter": "flow"},
                   "publish": {"type": "publish", "bind": f"tcp://127.0.0.1:{port}",
                               "wait_subscribers": 1}},
    })
    with EventSubscriber(f"tcp://127.0.0.1:{port}") as sub:
        run = run_pipeline(config)
        got = collect(sub, ["cam"], timeout_s=120)
        assert run.wait(60) == 0, run.log
    events = [r for r in got["cam"] if r["type"] == "event"]
    onset_ms, offset_ms = 2500.0, 2500.0 + 9 / 30 * 1000
    assert len(events) == 1, events
    ev = events[0]
    assert ev["label"] is None and ev["kind"] == "micro" and ev["spotter"]
    on, off = ev["onset_ns"] / 1e6, ev["offset_ns"] / 1e6
    inter = max(0.0, min(off, offset_ms) - max(on, onset_ms))
    union = max(off, offset_ms) - min(on, onset_ms)
    assert inter / union >= 0.5, (on, off)
    assert got["cam"][-1]["type"] == "end_of_stream"


def test_the_learned_spotter_runs_in_the_spot_stage(tmp_path, run_pipeline):
    """`spotter: learned` (bundled SYNTHETIC-trained model, one engine shared by the
    process's tracks): the scripted micro-expression comes out as one event."""
    port = free_port()
    config = write_config(tmp_path, {
        "name": "t-spot-learned",
        "sources": {"cam": {"type": "python", "factory": "tests.scripted_source:make",
                            "options": {"fps": 30, "seconds": 4, "onset_s": 2.0},
                            "realtime": False}},
        "stages": {"capture": {"type": "capture"},
                   "align": {"type": "align"},
                   "spot": {"type": "spot", "spotter": "learned"},
                   "publish": {"type": "publish", "bind": f"tcp://127.0.0.1:{port}",
                               "wait_subscribers": 1}},
    })
    with EventSubscriber(f"tcp://127.0.0.1:{port}") as sub:
        run = run_pipeline(config)
        got = collect(sub, ["cam"], timeout_s=120)
        assert run.wait(60) == 0, run.log
    events = [r for r in got["cam"] if r["type"] == "event" and r["kind"] == "micro"]
    onset_ms, offset_ms = 2000.0, 2000.0 + 9 / 30 * 1000
    assert len(events) == 1, events
    ev = events[0]
    assert ev["spotter"] == "learned"
    # Source time from the offset to the event leaving the stage: within the spotter's
    # bound (gap 80 + (delay 10 + 3) ticks of 40 ms = 600 ms) plus one frame.
    assert 0 < ev["after_offset_ms"] <= 600 + 1000 / 30, ev
    on, off = ev["onset_ns"] / 1e6, ev["offset_ns"] / 1e6
    inter = max(0.0, min(off, offset_ms) - max(on, onset_ms))
    union = max(off, offset_ms) - min(on, onset_ms)
    assert inter / union >= 0.5, (on, off)
    assert got["cam"][-1]["type"] == "end_of_stream"
