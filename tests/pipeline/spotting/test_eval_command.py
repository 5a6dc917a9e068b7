"""`mestream eval spotting`: ground truth from the generator's JSON, predictions as the
subscriber prints them, MEGC IoU >= 0.5 scores per stream and overall."""

from __future__ import annotations

import json
import subprocess

from pipeline.synth.truth import ExpressionEvent, GroundTruth
from tests.conftest import REPO, mestream


def event(onset: int, offset: int, aus: tuple[str, ...] = ("AU1", "AU2")) -> ExpressionEvent:
    return ExpressionEvent(stream="cam", face=0, onset=onset, apex=onset + 2, offset=offset,
                           fps=30.0, kind="micro", label="surprise", label_set="megc3",
                           aus=aus, intensity_px=2.0)


def eval_spotting(tmp_path) -> subprocess.CompletedProcess:
    """`mestream eval spotting` on tmp_path's gt.json and ev.jsonl, plots to plots/."""
    proc = subprocess.run(mestream("eval", "spotting", "--gt", str(tmp_path / "gt.json"),
                                   "--pred", str(tmp_path / "ev.jsonl"), "--plot",
                                   str(tmp_path / "plots")),
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_eval_spotting_scores_events_against_ground_truth(tmp_path) -> None:
    truth = GroundTruth("cam", 30.0, 1800, 640, 480, 0, ["x"],
                        [event(300, 309), event(900, 909, ("AU12",))])
    truth.write(tmp_path / "gt")
    ms = 1_000_000
    preds = [  # one hit on the first event, one false alarm, plus non-event records
        {"type": "event", "stream": "cam", "kind": "micro", "spotter": "flow",
         "interval": {"onset_ns": 10_000 * ms, "apex_ns": 10_100 * ms,
                      "offset_ns": 10_330 * ms}},
        {"type": "event", "stream": "cam", "kind": "micro", "spotter": "flow",
         "onset_ns": 50_000 * ms, "apex_ns": 50_100 * ms, "offset_ns": 50_300 * ms},
        {"type": "end_of_stream", "stream": "cam", "seq": 1800},
    ]
    (tmp_path / "ev.jsonl").write_text("\n".join(json.dumps(p) for p in preds))
    proc = eval_spotting(tmp_path)
    assert "| cam | 2 | 2 | 0.500 | 0.500 | 0.500 | 1.00 |" in proc.stdout
    assert "overall: precision 0.500, recall 0.500, F1 0.500" in proc.stdout
    # Which kind of movement was missed: the lone AU12, not the brow raise.
    assert "| AU1+AU2 | 1 | 1 | 1.000 |" in proc.stdout
    assert "| AU12 | 0 | 1 | 0.000 |" in proc.stdout
    assert (tmp_path / "plots" / "cam.png").exists()


def test_eval_spotting_plots_the_score_and_says_what_it_did_not_count(tmp_path) -> None:
    """Track records give the plot its score curve and threshold; a macro detection on a
    planted micro-expression and a stream with no truth are said, not silently dropped."""
    truth = GroundTruth("cam", 30.0, 300, 640, 480, 0, ["x"], [event(90, 99)])
    truth.write(tmp_path / "gt")
    ms = 1_000_000
    records = [{"type": "track", "stream": "cam", "pts_ns": k * 33 * ms,
                "score_pts_ns": k * 33 * ms, "score": 0.9 if 90 <= k <= 99 else 0.1,
                "threshold": 0.7} for k in range(300)]
    records += [
        {"type": "event", "stream": "cam", "kind": "macro", "spotter": "learned",
         "interval": {"onset_ns": 3_000 * ms, "apex_ns": 3_100 * ms, "offset_ns": 3_330 * ms}},
        {"type": "event", "stream": "cam9", "kind": "micro", "spotter": "learned",
         "interval": {"onset_ns": 1_000 * ms, "apex_ns": 1_100 * ms, "offset_ns": 1_300 * ms}},
    ]
    (tmp_path / "ev.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    proc = eval_spotting(tmp_path)
    assert "warning: stream 'cam9' has events but no ground truth" in proc.stdout
    assert "note: cam: 1 detection(s) marked macro" in proc.stdout
    assert "| cam | 1 | 0 | 0.000 | 0.000 | 0.000 | 0.00 |" in proc.stdout
    assert (tmp_path / "plots" / "cam.png").exists()
