"""``mestream demo``: run a pipeline of synthetic cameras end to end, print the events as
they come, then compare them with the generator's ground truth and leave a report.

The report folder (named on the last line printed) holds ``summary.md`` and
``summary.json`` (per stream and overall: spotting precision / recall / F1 at IoU >= 0.5
and false alarms per minute against the micro-expressions the generator planted, and
the class accuracy of the matched events), a timeline PNG per stream (the live spotting
score, ground truth shaded, detections marked) and an annotated mp4 per stream (face
box, landmarks, live spotting score, event labels, ground-truth intervals).

Ground truth needs no recording: a synthetic source is deterministic in its seed, so the
report rebuilds each scene and reads its plan; the mp4 re-renders its frames.
"""

from __future__ import annotations

import bisect
import json
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.config import PipelineConfig
from pipeline.event_record import interval_of, track_scores

GREEN, RED, YELLOW, WHITE = (60, 200, 60), (40, 40, 230), (0, 220, 255), (255, 255, 255)


def collect_records(endpoint: str, streams: list[str], records: list[dict[str, Any]],
                    printer: Any) -> None:
    """Subscribe and keep every record until every stream ended (runs in a thread)."""
    from pipeline.client import EventSubscriber

    with EventSubscriber(endpoint) as events:
        for record in events.until_end(streams):
            records.append(record)
            if record.get("type") != "track":
                printer(record)


def synthetic_truth(sid: str, src: Any) -> Any:
    """The scene a ``type: synthetic`` source renders (same seed, same plan)."""
    from pipeline.sources import open_source

    return open_source(sid, src)


def report(cfg: PipelineConfig, records: list[dict[str, Any]], out: Path,
           video: bool = True) -> dict[str, Any]:
    """Compare the published events with ground truth; write the report into ``out``."""
    from pipeline.spotting.evaluate import evaluate_spotting, frame_span_ns, timeline_png
    from pipeline.spotting.interval import SpottedInterval

    out.mkdir(parents=True, exist_ok=True)
    by_stream: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_stream[r.get("stream", "?")].append(r)
    models = sorted({getattr(s, "deformation", "rbf") for s in cfg.sources.values()
                     if s.type == "synthetic"})
    planted = {"rbf": "mestream's generator (what the bundled models trained on)",
               "muscle": "the HELD-OUT muscle model (pipeline/synth/muscles.py), which no "
                         "bundled model trained on"}
    summary: dict[str, Any] = {"streams": {}, "note": "synthetic footage: micro-expressions "
                               "planted on real faces by " + " and ".join(
                                   planted.get(m, m) for m in models)}
    totals = {"tp": 0, "fp": 0, "fn": 0, "matched": 0, "correct": 0, "minutes": 0.0}
    delays: list[float] = []
    pairs: list[tuple[str, str]] = []          # (truth class, published label)
    directions: list[bool] = []                # AU12 vs AU15 told apart
    for sid, src in cfg.sources.items():
        if src.type != "synthetic":
            continue
        source = synthetic_truth(sid, src)
        truth = source.truth
        fps = truth.fps
        gt = [e for e in truth.events if e.kind == "micro"]
        gt_ns = [frame_span_ns(e.onset, e.offset, fps) for e in gt]
        events = [r for r in by_stream[sid]
                  if r.get("type") == "event" and interval_of(r) is not None]
        preds = []
        for r in events:
            on, apex, off = interval_of(r)
            preds.append(SpottedInterval(on, apex, off, float(r.get("spot_score") or
                                                               r.get("score") or 0.0),
                                         r.get("kind") or "micro", r.get("spotter") or "?"))
        minutes = truth.frames / fps / 60.0
        # Source time from each expression's offset to its clip leaving the spot stage
        # (the spotter's look-ahead plus the windowing), as the events carry it.
        delays += [float(d) for r in events
                   if (d := (r.get("latency_ms") or {}).get("offset_to_clip",
                                                              r.get("after_offset_ms")))
                   is not None]
        score = evaluate_spotting(gt_ns, [p for p in preds if p.kind == "micro"],
                                  minutes * 60000.0)
        matched, correct = 0, 0
        for e, (g0, g1) in zip(gt, gt_ns, strict=True):
            best = max(events, default=None, key=lambda r, g0=g0, g1=g1: _iou(r, g0, g1))
            if best is not None and _iou(best, g0, g1) >= 0.5 and best.get("label"):
                truth_label = truth_class(e, best)
                if truth_label is None:
                    continue        # no class for these AUs in the model's label set
                matched += 1
                correct += int(best["label"] == truth_label)
                pairs.append((truth_label, best["label"]))
                direction = corner_direction(e, best)
                if direction is not None:
                    directions.append(direction)
        summary["streams"][sid] = {
            "frames": truth.frames, "fps": fps, "micro_truth": len(gt),
            "macro_truth": sum(e.kind == "macro" for e in truth.events),
            "events": len(events), "precision": round(score.precision, 3),
            "recall": round(score.recall, 3), "f1": round(score.f1, 3),
            "false_alarms_per_minute": round(score.false_alarms_per_minute, 2),
            "classified": matched, "class_accuracy": (round(correct / matched, 3)
                                                      if matched else None)}
        for key, value in (("tp", score.tp), ("fp", score.fp), ("fn", score.fn),
                           ("matched", matched), ("correct", correct),
                           ("minutes", minutes)):
            totals[key] += value
        tracks = [r for r in by_stream[sid] if r.get("type") == "track"]
        scores, threshold = track_scores(tracks)
        timeline_png(scores, gt_ns, preds, out / f"{sid}_timeline.png",
                     title=f"{sid}: spotting score, ground truth and detections",
                     threshold=threshold, duration_s=truth.frames / fps)
        if video:
            annotate(source, tracks, events, gt, out / f"{sid}_annotated.mp4")
    tp, fp, fn = totals["tp"], totals["fp"], totals["fn"]
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    summary["overall"] = {
        "precision": round(p, 3), "recall": round(r, 3),
        "f1": round(2 * p * r / (p + r), 3) if p + r else 0.0,
        "false_alarms_per_minute": round(fp / totals["minutes"], 2) if totals["minutes"]
        else None,
        "class_accuracy": (round(totals["correct"] / totals["matched"], 3)
                           if totals["matched"] else None),
        "classified": totals["matched"], "classified_right": totals["correct"],
        **class_scores(pairs),
        "au12_vs_au15": ({"right": sum(directions), "of": len(directions)}
                         if directions else None),
        "offset_to_clip_ms": ({"median": round(float(np.median(delays)), 1),
                               "max": round(max(delays), 1)} if delays else None)}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    (out / "summary.md").write_text(summary_markdown(summary))
    if summary["overall"].get("class_confusion"):
        from pipeline.recognition.confusion import confusion_png

        confusion_png(summary["overall"]["class_confusion"], out / "class_confusion.png",
                      f"planted class vs published label ({totals['matched']} matched "
                      "events; synthetic footage)")
    return summary


def truth_class(event: Any, record: dict[str, Any]) -> str | None:
    """The planted expression's class in the label set of the model that labelled
    ``record``: its own label when the sets agree, else the AU rules' class of its AUs
    (so a CASME II-planted scene scores a MEGC model too)."""
    from pipeline.recognition.au_rules import RULES, rule_class

    served = (record.get("model") or {}).get("label_set")
    if served is None or served == event.label_set or served not in RULES:
        return event.label
    return rule_class(served, event.aus)


def corner_direction(event: Any, record: dict[str, Any]) -> bool | None:
    """For a planted AU12 or AU15 (not both): did the event score the right one higher?
    None when not applicable or the event has no AUs."""
    aus = record.get("aus")
    if not aus or ("AU12" in event.aus) == ("AU15" in event.aus):
        return None
    return (aus.get("AU12", 0.0) > aus.get("AU15", 0.0)) == ("AU12" in event.aus)


def class_scores(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """UF1 and UAR over the truth classes of matched events (MEGC's mean per-class F1
    and recall), None without matches; ``class_confusion``: truth -> label -> count.

    Example:
        >>> s = class_scores([("positive", "positive"), ("negative", "positive")])
        >>> s["class_uar"], s["class_confusion"]["negative"]
        (0.5, {'positive': 1})
    """
    if not pairs:
        return {"class_uf1": None, "class_uar": None, "class_confusion": {}}
    confusion: dict[str, dict[str, int]] = {}
    for t, p in sorted(pairs):
        confusion.setdefault(t, {})
        confusion[t][p] = confusion[t].get(p, 0) + 1
    classes = sorted({t for t, _ in pairs})
    f1s, recalls = [], []
    for c in classes:
        tp = sum(t == c and p == c for t, p in pairs)
        fp = sum(t != c and p == c for t, p in pairs)
        fn = sum(t == c and p != c for t, p in pairs)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
        recalls.append(tp / (tp + fn) if tp + fn else 0.0)
    return {"class_uf1": round(float(np.mean(f1s)), 3),
            "class_uar": round(float(np.mean(recalls)), 3), "class_confusion": confusion}


def confusion_markdown(confusion: dict[str, dict[str, int]]) -> list[str]:
    """Rows = planted class, columns = published label: count and share of the row."""
    from pipeline.recognition.confusion import confusion_rows

    rows = confusion_rows(confusion)
    if not rows:
        return []
    labels = [p for p, _, _ in rows[0][1]]
    lines = ["| planted \\ published | " + " | ".join(labels) + " |",
             "|---" * (len(labels) + 1) + "|"]
    for truth, cells in rows:
        lines.append(f"| {truth} | " + " | ".join(
            f"{count} ({100 * share:.0f} %)" for _, count, share in cells) + " |")
    return ["", "Class confusion over the matched events (also class_confusion.png):", "",
            *lines]


def _iou(record: dict[str, Any], g0: int, g1: int) -> float:
    from pipeline.spotting.interval import interval_iou

    iv = interval_of(record)
    return 0.0 if iv is None else interval_iou(iv[0], iv[2], g0, g1)


def summary_markdown(summary: dict[str, Any]) -> str:
    lines = ["# Demo summary", "", f"_{summary['note']}_", "",
             "| stream | micro truth | events | precision | recall | F1 | false alarms/min "
             "| class accuracy |", "|---|---|---|---|---|---|---|---|"]
    for sid, s in summary["streams"].items():
        lines.append(f"| {sid} | {s['micro_truth']} | {s['events']} | {s['precision']} | "
                     f"{s['recall']} | {s['f1']} | {s['false_alarms_per_minute']} | "
                     f"{_or_dash(s['class_accuracy'])} |")
    o = summary["overall"]
    if o["classified"]:
        classes = (f"class accuracy {o['class_accuracy']} ({o['classified_right']} of "
                   f"{o['classified']} right), UF1 {o.get('class_uf1')}, UAR "
                   f"{o.get('class_uar')} (events matched to a planted micro-expression at "
                   "IoU >= 0.5)" + (f"; AU12 vs AU15 right {o['au12_vs_au15']['right']} of "
                                    f"{o['au12_vs_au15']['of']}" if o.get("au12_vs_au15")
                                    else ""))
    else:
        classes = ("no class scored (no classify stage, or no event matched a planted "
                   "micro-expression)")
    lines += ["", f"Overall: precision {o['precision']}, recall {o['recall']}, F1 {o['f1']}, "
              f"{_or_dash(o['false_alarms_per_minute'])} false alarms per minute; "
              f"{classes}.",
              "", "From an expression's offset to its clip leaving the spot stage (source "
              "time): " + (f"median {o['offset_to_clip_ms']['median']} ms, max "
                           f"{o['offset_to_clip_ms']['max']} ms." if o["offset_to_clip_ms"]
                           else "no events."),
              *confusion_markdown(o.get("class_confusion") or {}), ""]
    return "\n".join(lines)


def _or_dash(value: Any) -> Any:
    """A table cell: ``-`` where there is nothing to report (not ``None``)."""
    return "-" if value is None else value


GAUGE_HOLD_NS = 100_000_000  # a score shows on the frames up to this long after it


def score_at(scores: list[tuple[int, float]], score_pts: list[int], pts: int) -> float | None:
    """The score describing the frame at ``pts``: the last one at or before it, if it
    is not older than GAUGE_HOLD_NS (``score_pts``: the scores' pts, sorted)."""
    k = bisect.bisect_right(score_pts, pts) - 1
    if k >= 0 and pts - score_pts[k] <= GAUGE_HOLD_NS:
        return scores[k][1]
    return None


def draw_gauge(frame: np.ndarray, score: float, full: float,
               threshold: float | None) -> None:
    """A vertical bar at the left edge: the spot score of this frame, its threshold as a
    red tick (the bar turns red above it), and the value."""
    top, bottom, height = 20, 100, 80
    h = int(round(min(1.0, max(0.0, score / full)) * height))
    above = threshold is not None and score >= threshold
    cv2.rectangle(frame, (8, top), (20, bottom), (30, 30, 30), -1)  # readable on any scene
    cv2.rectangle(frame, (8, top), (20, bottom), (160, 160, 160), 1)
    cv2.rectangle(frame, (8, bottom - h), (20, bottom), RED if above else YELLOW, -1)
    if threshold is not None:
        y = bottom - int(round(min(1.0, threshold / full) * height))
        cv2.line(frame, (5, y), (23, y), RED, 1)
    cv2.putText(frame, f"spot {score:.2f}", (4, 116), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                YELLOW, 1, cv2.LINE_AA)


def annotate(source: Any, tracks: list[dict[str, Any]], events: list[dict[str, Any]],
             gt: list[Any], path: Path) -> None:
    """Re-render the scene and draw what the pipeline reported on it."""
    scene = source.scene
    fps = scene.spec.fps
    by_seq = {int(r["seq"]): r for r in tracks}
    # The score a frame got arrives frames later (the spotter looks ahead): each frame
    # shows its own, found by the pts it describes; the gauge's full scale fits the
    # spotter's (learned: 0-1, threshold 0.7; flow: a noise ratio, threshold 3).
    scores, threshold = track_scores(tracks)
    score_pts = [p for p, _ in scores]
    full = (max(1.0, 1.5 * threshold) if threshold
            else max([v for _, v in scores], default=1.0) or 1.0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                             (scene.spec.width, scene.spec.height))
    try:
        for i, (image, pts) in enumerate(scene.frames()):
            frame = image.copy()
            rec = by_seq.get(i)
            if rec is not None and rec.get("box"):
                x0, y0, x1, y1 = (int(v) for v in rec["box"])
                cv2.rectangle(frame, (x0, y0), (x1, y1), YELLOW, 1)
                for x, y in rec.get("landmarks", [])[::4]:
                    cv2.circle(frame, (int(x), int(y)), 1, YELLOW, -1)
            score = score_at(scores, score_pts, pts)
            if score is not None:
                draw_gauge(frame, score, full, threshold)
            for e in gt:
                if e.onset <= i <= e.offset:
                    cv2.putText(frame, f"truth: {e.kind} {e.label}", (4, 16),
                                cv2.FONT_HERSHEY_SIMPLEX, 0.5, GREEN, 1, cv2.LINE_AA)
            for ev in events:
                iv = interval_of(ev)
                if iv is not None and iv[0] <= pts <= iv[2]:
                    text = f"event: {ev.get('label') or 'spotted'} ({ev.get('kind')})"
                    cv2.putText(frame, text, (4, 34), cv2.FONT_HERSHEY_SIMPLEX, 0.5, RED, 1,
                                cv2.LINE_AA)
            writer.write(frame)
    finally:
        writer.release()


def run_demo(config_path: Path, out: Path | None = None, video: bool = True,
             overrides: list[str] | None = None) -> int:
    """Run the pipeline, print events live, then write the report. Returns the exit code."""
    from mestream.record_line import record_line
    from pipeline.config import check_paths, load_config
    from pipeline.logs import configure_logging
    from pipeline.runtime.supervisor import Supervisor

    overrides = list(overrides or [])
    cfg = load_config(config_path, overrides)
    publish = next(n for n, s in cfg.stages.items() if s.type == "publish")
    overrides.append(f"stages.{publish}.wait_subscribers="
                     f"{cfg.stages[publish].wait_subscribers + 1}")
    for name, stage in cfg.stages.items():
        if stage.type == "spot":
            overrides.append(f"stages.{name}.emit_tracks=true")
    cfg = load_config(config_path, overrides)
    check_paths(cfg, str(config_path))
    configure_logging(cfg.logging.level, cfg.logging.format, "supervisor")
    out = out or Path("runs") / f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    records: list[dict[str, Any]] = []
    collector = threading.Thread(
        target=collect_records, args=(cfg.stages[publish].bind, sorted(cfg.sources), records,
                                      lambda r: print(record_line(r), flush=True)), daemon=True)
    collector.start()
    t0 = time.monotonic()
    code = Supervisor(cfg, config_path.resolve(), overrides).run()
    collector.join(timeout=5)
    print(f"pipeline finished in {time.monotonic() - t0:.1f} s (exit {code}); "
          f"{sum(r.get('type') == 'event' for r in records)} events")
    if code != 0:
        return code
    from pipeline.native_log import filtered_native_stderr

    with filtered_native_stderr():  # the annotated videos run MediaPipe here too
        summary = report(cfg, records, out, video=video)
    print((out / "summary.md").read_text())
    print(f"report: {out.resolve()}")
    return 0 if summary["streams"] else 1
