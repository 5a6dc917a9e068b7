"""``mestream eval spotting --gt GT.json --pred EVENTS.jsonl [--plot DIR]``

GT: a ground-truth JSON written by ``mestream synth video`` (or any JSON with
``fps``, ``frames`` and ``events`` rows holding ``onset_frame``, ``offset_frame``,
``kind``, and optionally ``stream``). PRED: JSON lines as ``mestream subscribe --json``
prints them; ``event`` records count, with their interval. Scores micro-expressions at
IoU >= 0.5 (MEGC), per stream and overall: precision, recall, F1, false alarms/minute;
when the truth rows name their action units (``aus``, e.g. ``"AU6+AU12"``, as the
generator and CASME II write them), also the recall per action-unit combination, which
says what kind of movement a spotter misses.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from pipeline.event_record import interval_of


def read_records(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of ``path`` (as ``mestream subscribe --json`` prints them)."""
    records = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise SystemExit(f"error: {path}:{n}: not JSON ({exc})") from None
    return records


def load_predictions(path: Path,
                     records: list[dict[str, Any]] | None = None) -> dict[str, list[Any]]:
    """The event records of ``path`` (or of its ``records``, already read) as spotted
    intervals, per stream."""
    from pipeline.spotting.interval import SpottedInterval

    out: dict[str, list[Any]] = defaultdict(list)
    for n, r in enumerate(read_records(path) if records is None else records, start=1):
        if r.get("type") != "event":
            continue
        iv = interval_of(r)
        if iv is None:
            raise SystemExit(f"error: {path}: record {n}: an event without onset_ns/offset_ns")
        out[r.get("stream", "?")].append(SpottedInterval(
            *iv,
            float(r.get("spot_score") or r.get("score") or 0.0), r.get("kind") or "micro",
            r.get("spotter") or "?"))
    return out


def cmd_eval_spotting(args: argparse.Namespace) -> int:
    from pipeline.event_record import track_scores
    from pipeline.spotting.evaluate import (
        evaluate_spotting,
        frame_span_ns,
        match_spotting,
        timeline_png,
    )
    from pipeline.spotting.interval import interval_iou

    gt = json.loads(Path(args.gt).read_text())
    fps, frames = float(gt["fps"]), int(gt["frames"])
    records = read_records(Path(args.pred))  # read once: events, and track scores to plot
    preds = load_predictions(Path(args.pred), records)
    truth_streams = ({e.get("stream", gt.get("stream", "?")) for e in gt["events"]}
                     | ({gt["stream"]} if "stream" in gt else set()))
    for sid in sorted(set(preds) - truth_streams):
        print(f"warning: stream {sid!r} has events but no ground truth (truth streams: "
              f"{', '.join(sorted(truth_streams)) or 'none'}): its events count as false "
              "alarms")
    streams = sorted(truth_streams | set(preds))
    rows, tp, fp, fn, minutes = [], 0, 0, 0, 0.0
    by_aus: dict[str, list[int]] = defaultdict(lambda: [0, 0])    # found, truth
    for sid in streams:
        truth = [e for e in gt["events"]
                 if e.get("kind") == "micro" and e.get("stream", gt.get("stream")) == sid]
        spans = [frame_span_ns(e["onset_frame"], e["offset_frame"], fps) for e in truth]
        micro = [p for p in preds.get(sid, []) if p.kind == "micro"]
        macro_on_truth = [p for p in preds.get(sid, []) if p.kind != "micro" and any(
            interval_iou(g0, g1, p.onset_ns, p.offset_ns) >= 0.5 for g0, g1 in spans)]
        if macro_on_truth:
            print(f"note: {sid}: {len(macro_on_truth)} detection(s) marked macro (longer "
                  "than a micro-expression) overlap a micro-expression of the truth; MEGC "
                  "scores micro detections only, so they are not counted")
        score = evaluate_spotting(spans, micro, frames / fps * 1000.0)
        found = match_spotting(spans, micro)
        for g, e in enumerate(truth):
            if e.get("aus"):
                by_aus[str(e["aus"])][0] += g in found
                by_aus[str(e["aus"])][1] += 1
        rows.append((sid, len(spans), len(micro), score))
        tp, fp, fn = tp + score.tp, fp + score.fp, fn + score.fn
        minutes += frames / fps / 60.0
        if args.plot:
            curve, threshold = track_scores(r for r in records if r.get("stream") == sid)
            timeline_png(curve, spans, preds.get(sid, []), Path(args.plot) / f"{sid}.png",
                         title=f"{sid}: spotting score, ground truth and detections",
                         threshold=threshold, duration_s=frames / fps)
    print("| stream | micro truth | micro detections | precision | recall | F1 | FA/min |")
    print("|---|---|---|---|---|---|---|")
    for sid, n_gt, n_pred, s in rows:
        print(f"| {sid} | {n_gt} | {n_pred} | {s.precision:.3f} | {s.recall:.3f} | "
              f"{s.f1:.3f} | {s.false_alarms_per_minute:.2f} |")
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    print(f"overall: precision {p:.3f}, recall {r:.3f}, F1 {f1:.3f}, "
          f"{fp / minutes if minutes else 0.0:.2f} false alarms/min (IoU >= 0.5)")
    if by_aus:
        print()
        print("| action units | found | truth | recall |")
        print("|---|---|---|---|")
        for aus, (hit, n) in sorted(by_aus.items(), key=lambda kv: (-kv[1][1], kv[0])):
            print(f"| {aus} | {hit} | {n} | {hit / n:.3f} |")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("eval", help="evaluate published events against ground truth")
    esub = e.add_subparsers(dest="eval_command", required=True)
    s = esub.add_parser("spotting", help="MEGC spotting F1 (IoU >= 0.5), FA/min")
    s.add_argument("--gt", required=True, help="ground-truth JSON (mestream synth video)")
    s.add_argument("--pred", required=True, help="events, JSON lines (mestream subscribe "
                   "--json)")
    s.add_argument("--plot", default=None, help="folder for a timeline PNG per stream")
    s.set_defaults(func=cmd_eval_spotting)
