"""capture -> align -> spot -> publish: a scripted micro-expression on a still real face
comes out as one spotting event around its true interval; end-of-stream follows."""

from __future__ import annotations

from pipeline.client import EventSubscriber
from pipeline.spotting.interval import interval_iou
from pipeline.spotting.learned import LearnedSpotter
from tests.conftest import free_port, write_config
from tests.pipeline.stages.test_capture_publish import collect

SCRIPTED_MICRO_MS = 9 / 30 * 1000  # tests/scripted_source.py: round(0.3 * 30) frames at 30 fps


def run_scripted(tmp_path, run_pipeline, spotter: str, seconds: float,
                 onset_s: float) -> list[dict]:
    """capture -> align -> spot (``spotter``) -> publish over the scripted still face with
    one micro-expression at ``onset_s``; every record the subscriber got, in order."""
    port = free_port()
    config = write_config(tmp_path, {
        "name": f"t-spot-{spotter}",
        "sources": {"cam": {"type": "python", "factory": "tests.scripted_source:make",
                            "options": {"fps": 30, "seconds": seconds, "onset_s": onset_s},
                            "realtime": False}},
        "stages": {"capture": {"type": "capture"},
                   "align": {"type": "align"},
                   "spot": {"type": "spot", "spotter": spotter},
                   "publish": {"type": "publish", "bind": f"tcp://127.0.0.1:{port}",
                               "wait_subscribers": 1}},
    })
    with EventSubscriber(f"tcp://127.0.0.1:{port}") as sub:
        run = run_pipeline(config)
        got = collect(sub, ["cam"], timeout_s=120)
        assert run.wait(60) == 0, run.log
    return got["cam"]


def overlaps_truth(ev: dict, onset_ms: float) -> bool:
    """IoU >= 0.5 of the event's interval with the scripted one."""
    return interval_iou(ev["onset_ns"] / 1e6, ev["offset_ns"] / 1e6,
                        onset_ms, onset_ms + SCRIPTED_MICRO_MS) >= 0.5


def test_a_scripted_micro_expression_is_spotted_online(tmp_path, run_pipeline):
    records = run_scripted(tmp_path, run_pipeline, "flow", seconds=5, onset_s=2.5)
    events = [r for r in records if r["type"] == "event"]
    assert len(events) == 1, events
    ev = events[0]
    assert ev["label"] is None and ev["kind"] == "micro" and ev["spotter"]
    assert overlaps_truth(ev, 2500.0), (ev["onset_ns"], ev["offset_ns"])
    assert records[-1]["type"] == "end_of_stream"


def test_the_learned_spotter_runs_in_the_spot_stage(tmp_path, run_pipeline):
    """`spotter: learned` (bundled SYNTHETIC-trained model, one engine shared by the
    process's tracks): the scripted micro-expression comes out as one event."""
    records = run_scripted(tmp_path, run_pipeline, "learned", seconds=4, onset_s=2.0)
    events = [r for r in records if r["type"] == "event" and r["kind"] == "micro"]
    assert len(events) == 1, events
    ev = events[0]
    assert ev["spotter"] == "learned"
    # Source time from the offset to the event leaving the stage: within the bundled
    # spotter's bound (its merge gap + (delay 10 + 3) ticks of 40 ms) plus one frame.
    bound = LearnedSpotter().latency_ms
    assert 0 < ev["after_offset_ms"] <= bound + 1000 / 30, (ev, bound)
    assert overlaps_truth(ev, 2000.0), (ev["onset_ns"], ev["offset_ns"])
    assert records[-1]["type"] == "end_of_stream"


def test_the_dense_spotter_runs_in_the_spot_stage(tmp_path, run_pipeline):
    """`spotter: dense` (bundled SYNTHETIC-trained MicroExpSTCNN with a no-expression
    class over sliding windows): the scripted micro-expression comes out as one event,
    within the spotter's latency bound."""
    records = run_scripted(tmp_path, run_pipeline, "dense", seconds=4, onset_s=2.0)
    events = [r for r in records if r["type"] == "event" and r["kind"] == "micro"]
    assert len(events) == 1, events
    ev = events[0]
    assert ev["spotter"] == "dense"
    # Half the 600 ms window + a 67 ms stride + the 150 ms gap + half of 300 ms, plus
    # one frame: an interval is final once no later window can extend it.
    assert 0 < ev["after_offset_ms"] <= 300 + 67 + 150 + 150 + 1000 / 30, ev
    assert overlaps_truth(ev, 2000.0), (ev["onset_ns"], ev["offset_ns"])
    assert records[-1]["type"] == "end_of_stream"
