"""MEGC-style spotting score (IoU >= 0.5) and a timeline picture of one face.

Matching rule (documented because the published scripts differ, field.md 2.2): every
(prediction, GT) pair with IoU >= ``min_iou`` is a candidate; candidates are taken in order
of decreasing IoU and a pair is accepted when neither its GT nor its prediction is taken
yet (one-to-one, greedy by IoU). TP = accepted pairs, FP = predictions left, FN = GT left;
precision = TP / #pred, recall = TP / #GT. Unlike the MEGC2020 helper (where one
prediction may find two GT) this never counts one detection twice. IoU is on closed time
intervals in ns (:func:`~pipeline.spotting.interval.interval_iou`); give GT offsets as the
pts of the event's last frame plus one frame period to make frame-inclusive intervals
(:func:`frame_span_ns`).

>>> s = SpottedInterval
>>> gt = [(0, 300_000_000), (1_000_000_000, 1_300_000_000)]
>>> pred = [s(10_000_000, 0, 310_000_000, 1.0, "micro", "x"),
...         s(5_000_000_000, 0, 5_300_000_000, 1.0, "micro", "x")]
>>> score = evaluate_spotting(gt, pred, video_ms=60_000)
>>> score.tp, score.fp, score.fn, score.f1, score.false_alarms_per_minute
(1, 1, 1, 0.5, 1.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.spotting.interval import SpottedInterval, interval_iou


@dataclass(frozen=True, slots=True)
class SpottingScore:
    tp: int
    fp: int
    fn: int
    precision: float
    recall: float
    f1: float
    false_alarms_per_minute: float
    """FP per minute of video."""


def _score(tp: int, fp: int, fn: int, minutes: float) -> SpottingScore:
    precision = tp / (tp + fp) if tp + fp else (1.0 if fn == 0 else 0.0)
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    rate = fp / minutes if minutes > 0 else 0.0
    return SpottingScore(tp, fp, fn, precision, recall, f1, rate)


def pooled(scores: Sequence[tuple[SpottingScore, float]]) -> SpottingScore:
    """Pool (score, video_ms) pairs of several videos as MEGC does (micro-averaging):
    counts summed, the false-alarm rate over all minutes."""
    tp = sum(s.tp for s, _ in scores)
    fp = sum(s.fp for s, _ in scores)
    fn = sum(s.fn for s, _ in scores)
    return _score(tp, fp, fn, sum(ms for _, ms in scores) / 60_000.0)


def frame_span_ns(onset: int, offset: int, fps: float) -> tuple[int, int]:
    """Frame indices (offset inclusive) -> (start of onset frame, end of offset frame), ns."""
    return round(onset * 1e9 / fps), round((offset + 1) * 1e9 / fps)


def match_spotting(
    gt: Sequence[tuple[int, int]],
    pred: Sequence[SpottedInterval],
    min_iou: float = 0.5,
) -> dict[int, int]:
    """The accepted (GT index -> prediction index) pairs of the module's one-to-one rule."""
    pairs = []
    for g, (g0, g1) in enumerate(gt):
        for p, iv in enumerate(pred):
            iou = interval_iou(g0, g1, iv.onset_ns, iv.offset_ns)
            if iou >= min_iou:
                pairs.append((iou, g, p))
    matched: dict[int, int] = {}
    used_p: set[int] = set()
    for _, g, p in sorted(pairs, reverse=True):
        if g not in matched and p not in used_p:
            matched[g] = p
            used_p.add(p)
    return matched


def evaluate_spotting(
    gt: Sequence[tuple[int, int]],
    pred: Sequence[SpottedInterval],
    video_ms: float,
    min_iou: float = 0.5,
) -> SpottingScore:
    """Score ``pred`` against GT (onset_ns, offset_ns) intervals of one video."""
    tp = len(match_spotting(gt, pred, min_iou))
    return _score(tp, len(pred) - tp, len(gt) - tp, video_ms / 60_000.0)


NO_SCORES = ("no score curve: these records hold events only (the spot stage sends "
             "per-frame scores with emit_tracks: true)")


def timeline_png(
    scores: Sequence[tuple[int, float]],
    gt: Sequence[tuple[int, int]],
    pred: Sequence[SpottedInterval],
    path: str | Path,
    title: str = "",
    threshold: Sequence[tuple[int, float]] | float | None = None,
    duration_s: float | None = None,
) -> Path:
    """A stream's timeline as a PNG (matplotlib Agg, no display): above, the spotter's
    score over time with its threshold (or a line saying why there is no curve); below,
    on a lane each, the ground-truth micro-expressions (green) and the detections:
    micro (red) and macro (grey: longer than a micro-expression, not scored by MEGC),
    apex marked. The time axis covers the whole stream (``duration_s``) when given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, (ax, lanes) = plt.subplots(2, 1, figsize=(12, 3.6), dpi=100, sharex=True,
                                    gridspec_kw={"height_ratios": [3, 1]})
    try:
        if scores:
            ax.plot([p / 1e9 for p, _ in scores], [v for _, v in scores], lw=0.8,
                    color="tab:blue", label="score")
            top = max(1.0, max(v for _, v in scores))
        else:
            top = 1.0
            ax.text(0.5, 0.5, NO_SCORES, transform=ax.transAxes, ha="center",
                    va="center", fontsize=8, color="0.3")
        if isinstance(threshold, int | float):
            ax.axhline(float(threshold), lw=0.8, color="tab:orange", ls="--",
                       label=f"threshold {float(threshold):g}")
        elif threshold:
            ax.plot([p / 1e9 for p, _ in threshold], [v for _, v in threshold], lw=0.8,
                    color="tab:orange", ls="--", label="threshold")
        for g0, g1 in gt:
            ax.axvspan(g0 / 1e9, g1 / 1e9, color="tab:green", alpha=0.15)
            lanes.hlines(1, g0 / 1e9, g1 / 1e9, color="tab:green", lw=6)
        kinds = {"micro": "tab:red", "macro": "0.55"}
        for iv in pred:
            color = kinds.get(iv.kind or "micro", "tab:red")
            lanes.hlines(0, iv.onset_ns / 1e9, iv.offset_ns / 1e9, color=color, lw=6)
            lanes.plot(iv.apex_ns / 1e9, 0.35, "v", color=color, ms=4)
        lanes.set_ylim(-0.6, 1.6)
        lanes.set_yticks([0, 1], ["detections", "truth (micro)"], fontsize=7)
        end = duration_s if duration_s else max(
            [g1 / 1e9 for _, g1 in gt] + [iv.offset_ns / 1e9 for iv in pred]
            + [p / 1e9 for p, _ in scores] + [1.0])
        lanes.set_xlim(0, end)
        lanes.set_xlabel("time (s)")
        # Room above the curve for the legend, which must not hide a peak.
        ax.set_ylim(min([0.0] + [v for _, v in scores]), top * 1.5)
        ax.set_yticks([t for t in ax.get_yticks() if 0 <= t <= top])
        ax.set_ylabel("spot score")
        ax.set_title(title, fontsize=9)
        handles, _ = ax.get_legend_handles_labels()
        handles += [Patch(color="tab:green", alpha=0.5, label="ground truth micro"),
                    Patch(color="tab:red", label="detected micro (scored)"),
                    Patch(color="0.55", label="detected macro (> max length, not scored)")]
        ax.legend(handles=handles, loc="upper right", fontsize=7, ncol=2)
        fig.tight_layout()
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path
