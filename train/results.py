"""Pooled results of a run: per seed, predictions of every fold pooled into one set
(MEGC2019), metrics overall and per dataset; then mean +- std over seeds; written as
``results.json``, ``results.md`` and ``confusion.png``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from train.metrics import confusion_matrix, confusion_png, recognition_metrics

METRICS = ("accuracy", "uf1", "uar")


def _mean_std(values: Sequence[float]) -> dict[str, float]:
    return {"mean": float(np.mean(values)), "std": float(np.std(values))}


def summarise(predictions: dict[int, list[dict[str, Any]]], labels: Sequence[str],
              protocol: str, trained_on: str, extra: dict[str, Any]) -> dict[str, Any]:
    """``predictions``: seed -> pooled rows ``{"true", "pred", "dataset", ...}``."""
    per_seed: dict[str, Any] = {}
    for seed, rows in sorted(predictions.items()):
        t = [r["true"] for r in rows]
        p = [r["pred"] for r in rows]
        by_dataset = {}
        for ds in sorted({r["dataset"] for r in rows}):
            sub = [r for r in rows if r["dataset"] == ds]
            by_dataset[ds] = recognition_metrics([r["true"] for r in sub],
                                                 [r["pred"] for r in sub])
        per_seed[str(seed)] = {**recognition_metrics(t, p), "per_dataset": by_dataset,
                               "confusion": confusion_matrix(t, p, len(labels)).tolist()}
    seeds = list(per_seed.values())
    datasets = sorted({d for s in seeds for d in s["per_dataset"]})
    summary = {m: _mean_std([s[m] for s in seeds]) for m in METRICS}
    summary["per_dataset"] = {d: {m: _mean_std([s["per_dataset"][d][m] for s in seeds])
                                  for m in METRICS} for d in datasets}
    return {"protocol": protocol, "trained_on": trained_on, "labels": list(labels),
            "chance_uar": 1.0 / len(labels), "seeds": per_seed, "summary": summary,
            "pooled": "predictions of all folds pooled per seed, then mean +- std over "
                      "seeds (MEGC2019)", **extra}


def _fmt(d: dict[str, float]) -> str:
    return f"{d['mean']:.4f} ± {d['std']:.4f}"


def write_results(out: Path, results: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    labels = results["labels"]
    total = np.sum([np.asarray(s["confusion"]) for s in results["seeds"].values()], axis=0)
    n_seeds = len(results["seeds"])
    confusion_png(total, labels, out / "confusion.png",
                  title=f"pooled over folds, summed over {n_seeds} seed(s)")
    s = results["summary"]
    lines = [f"# Results: {results.get('recipe_name', '')}", "",
             f"- trained on: {results['trained_on']}",
             f"- protocol: {results['protocol']} ({results.get('folds', '?')} folds, "
             f"{results.get('samples', '?')} samples, {results.get('subjects', '?')} subjects)",
             f"- seeds: {', '.join(results['seeds'])}; {results['pooled']}",
             f"- classes: {', '.join(labels)} (chance UAR {results['chance_uar']:.3f})",
             f"- wall time: {results.get('wall_s', 0):.0f} s", "",
             "| set | accuracy | UF1 | UAR |", "|---|---|---|---|",
             f"| all | {_fmt(s['accuracy'])} | {_fmt(s['uf1'])} | {_fmt(s['uar'])} |"]
    for d, m in s["per_dataset"].items():
        lines.append(f"| {d} | {_fmt(m['accuracy'])} | {_fmt(m['uf1'])} | {_fmt(m['uar'])} |")
    lines += ["", "Confusion matrix (rows = true, summed over seeds): confusion.png", "",
              "| true \\ pred | " + " | ".join(labels) + " |",
              "|---|" + "---|" * len(labels)]
    for name, row in zip(labels, total.tolist(), strict=True):
        lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    (out / "results.md").write_text("\n".join(lines) + "\n")
