"""The training loop: per fold and seed, a fresh model trained for a fixed number of
epochs (or early-stopped on subjects held out of the TRAINING subjects), the held-out
subject predicted, predictions pooled; then a final model on all samples.

Output folder (``recipe.output.dir``)::

    folds/<fold>_seed<k>.pt          checkpoint (train/checkpoint.py)
    folds/<fold>_seed<k>.json        its test predictions (a fold with both is skipped
                                     on a re-run: resume)
    epochs.csv                       fold, seed, epoch, train_loss, val_loss, seconds
    results.json, results.md, confusion.png
    final.pt                         trained on every sample (export / bundling)
    tensorboard/                     when asked for and torch.utils.tensorboard works

Example::

    recipe = load_recipe("configs/train/stcnn_synth.yaml")
    results = run(recipe)
    results["summary"]["uf1"]        # {"mean": ..., "std": ...}
"""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from torch import nn

from train.checkpoint import save_checkpoint
from train.clipset import ClipSet
from train.datasets.sample import Sample
from train.models.registry import ARCHITECTURES, TIME_CONTRAST, Architecture
from train.normalise import Normalisation
from train.protocols import Fold, inner_validation, loso_folds, split_80_20, subjects
from train.recipe import Recipe
from train.results import summarise, write_results
from train.samples import load_samples

logger = logging.getLogger(__name__)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device cuda asked for, but torch sees no CUDA device")
    return torch.device(name)


def make_folds(recipe: Recipe, samples: Sequence[Sample], ids: Sequence[int]) -> list[Fold]:
    if recipe.protocol.name == "split_80_20":
        return [split_80_20(ids, recipe.protocol.split_seed, recipe.protocol.test_fraction)]
    return loso_folds(samples)      # loso and megc_composite (subjects carry the dataset)


@dataclass
class Job:
    """What one (fold, seed) training needs."""

    recipe: Recipe
    arch: Architecture
    kwargs: dict[str, Any]
    clips: ClipSet
    device: torch.device


class EpochLog:
    """``epochs.csv``, flushed per row so a long run can be watched (``tail -f``)."""

    def __init__(self, fh):
        self.fh, self.writer = fh, csv.writer(fh)

    def writerow(self, row: Sequence[Any]) -> None:
        self.writer.writerow(row)
        self.fh.flush()


def _optimiser(recipe: Recipe, params) -> torch.optim.Optimizer:
    o = recipe.optimiser
    if o.name == "adam":
        return torch.optim.Adam(params, lr=o.lr, weight_decay=o.weight_decay)
    return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)


def _loss(job: Job, model: nn.Module, xs: list[torch.Tensor], y: torch.Tensor,
          spot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, class logits) of one batch."""
    out = model(*xs)
    if job.arch.name == TIME_CONTRAST:
        from train.models.time_contrast import time_contrast_loss

        return time_contrast_loss(out, spot, y, None, 0.0), out.label
    return nn.functional.cross_entropy(out, y), out


def _batches(job: Job, indices: np.ndarray, norms: dict[str, Normalisation], size: int):
    for start in range(0, len(indices), size):
        idx = indices[start:start + size]
        xs = [torch.from_numpy(x).to(job.device)
              for x in job.clips.inputs(idx, norms, job.arch)]
        y = torch.from_numpy(job.clips.labels[idx]).to(job.device)
        spot = torch.from_numpy(job.clips.spot[idx]).to(job.device)
        yield xs, y, spot


def evaluate_clips(job: Job, model: nn.Module, indices: Sequence[int],
                   norms: dict[str, Normalisation]) -> tuple[float, np.ndarray]:
    """(mean loss, softmax probabilities) over ``indices``, in eval mode."""
    model.eval()
    losses, probs = [], []
    with torch.no_grad():
        for xs, y, spot in _batches(job, np.asarray(indices), norms, job.recipe.batch_size):
            loss, logits = _loss(job, model, xs, y, spot)
            losses.append(float(loss) * len(y))
            probs.append(torch.softmax(logits, 1).cpu().numpy())
    return sum(losses) / max(1, len(indices)), np.concatenate(probs)


def train_model(job: Job, train: Sequence[int], seed: int, log: EpochLog, fold: str,
                writer: Any = None, progress: Progress | None = None,
                samples: Sequence[Sample] = ()) -> tuple[nn.Module, dict[str, Normalisation]]:
    """Train a fresh model on ``train`` (normalisation fitted there) and return it."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    recipe = job.recipe
    fit, val = tuple(train), ()
    if recipe.protocol.validation is not None:
        fit, val = inner_validation(train, samples, recipe.protocol.validation.fraction, seed)
    norms = job.clips.fit_normalisation(fit, job.arch.inputs)
    model = job.arch.build(job.kwargs).to(job.device)
    opt = _optimiser(recipe, model.parameters())
    best: tuple[float, dict[str, torch.Tensor]] | None = None
    stale = 0
    task = progress.add_task(f"{fold} seed {seed}", total=recipe.epochs) if progress else None
    for epoch in range(1, recipe.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        order = rng.permutation(np.asarray(fit))
        total = 0.0
        for xs, y, spot in _batches(job, order, norms, recipe.batch_size):
            opt.zero_grad()
            loss, _ = _loss(job, model, xs, y, spot)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(y)
        train_loss = total / len(fit)
        val_loss = evaluate_clips(job, model, val, norms)[0] if val else float("nan")
        log.writerow([fold, seed, epoch, f"{train_loss:.6f}",
                      "" if not val else f"{val_loss:.6f}", f"{time.perf_counter() - t0:.2f}"])
        if writer is not None:
            writer.add_scalar(f"{fold}/seed{seed}/train_loss", train_loss, epoch)
            if val:
                writer.add_scalar(f"{fold}/seed{seed}/val_loss", val_loss, epoch)
        if progress is not None and task is not None:
            progress.update(task, advance=1,
                            description=f"{fold} seed {seed} loss {train_loss:.3f}")
        if val:
            if best is None or val_loss < best[0]:
                best = (val_loss, {k: v.detach().clone() for k, v in model.state_dict().items()})
                stale = 0
            else:
                stale += 1
                if stale >= recipe.protocol.validation.patience:
                    break
    if progress is not None and task is not None:
        progress.remove_task(task)
    if best is not None:
        model.load_state_dict(best[1])
    return model, norms


def _tensorboard(out: Path, enabled: bool):
    if not enabled:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:     # tensorboard is an optional extra; the CSV log is always there
        logger.warning("tensorboard requested but not installed; epochs.csv only")
        return None
    return SummaryWriter(str(out / "tensorboard"))


def _checkpoint_fields(job: Job, model: nn.Module, norms: dict[str, Normalisation],
                       labels: Sequence[str], trained_on: str, fold: str, seed: int,
                       train_subjects: Sequence[str], test_subjects: Sequence[str]):
    return dict(arch=job.arch.name, class_name=job.arch.class_name, kwargs=job.kwargs,
                state_dict={k: v.detach().cpu() for k, v in model.state_dict().items()},
                labels=list(labels),
                inputs=dict(zip(job.arch.input_names, job.arch.inputs, strict=True)),
                normalisation={name: norms[stream].to_dict() for name, stream in
                               zip(job.arch.input_names, job.arch.inputs, strict=True)},
                preparation=job.recipe.preparation.model_dump(mode="json"),
                recipe=job.recipe.model_dump(mode="json"), trained_on=trained_on,
                fold=fold, seed=seed, epochs=job.recipe.epochs,
                train_subjects=sorted(set(train_subjects)),
                test_subjects=sorted(set(test_subjects)))


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn())


def run(recipe: Recipe, name: str = "") -> dict[str, Any]:
    """Train and evaluate ``recipe``; returns what ``results.json`` holds."""
    started = time.perf_counter()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    out = recipe.output.dir
    (out / "folds").mkdir(parents=True, exist_ok=True)
    device = pick_device(recipe.device)
    samples, ids, report = load_samples(recipe.data)
    labels = recipe.data.classes
    arch = ARCHITECTURES[recipe.model.name]
    prep = recipe.preparation
    kwargs = arch.kwargs(prep.frames, prep.size, prep.region_size, len(labels),
                         recipe.model.kwargs)
    keys = subjects(samples)
    folds = make_folds(recipe, samples, ids)
    logger.info("%s: %d samples, %d subjects, %d folds, classes %s", report.trained_on,
                len(samples), len(set(keys)), len(folds), report.per_class)
    with _progress() as progress:
        task = progress.add_task("preparing clips (face alignment)", total=len(samples))
        clips = ClipSet.prepare(samples, ids, prep,
                                lambda done, todo: progress.update(task, completed=done))
    if clips.missing:
        logger.warning("%d source frames had no face (previous frame reused)", clips.missing)
    job = Job(recipe, arch, kwargs, clips, device)
    writer = _tensorboard(out, recipe.output.tensorboard)
    log_path = out / "epochs.csv"
    new_log = not log_path.exists()
    predictions: dict[int, list[dict[str, Any]]] = {s: [] for s in recipe.seeds}
    skipped = 0
    with open(log_path, "a", newline="") as fh, _progress() as progress:
        log = EpochLog(fh)
        if new_log:
            log.writerow(["fold", "seed", "epoch", "train_loss", "val_loss", "seconds"])
        overall = progress.add_task("folds x seeds", total=len(folds) * len(recipe.seeds))
        for seed in recipe.seeds:
            for fold in folds:
                stem = out / "folds" / f"{fold.name}_seed{seed}"
                pred_path, ckpt_path = stem.with_suffix(".json"), stem.with_suffix(".pt")
                if pred_path.exists() and ckpt_path.exists():      # resume
                    predictions[seed] += json.loads(pred_path.read_text())
                    skipped += 1
                    progress.advance(overall)
                    continue
                model, norms = train_model(job, fold.train, seed, log, fold.name, writer,
                                           progress, samples)
                _, probs = evaluate_clips(job, model, fold.test, norms)
                rows = [{"index": int(i), "clip": samples[i].clip, "subject": keys[i],
                         "dataset": samples[i].dataset, "true": int(ids[i]),
                         "pred": int(np.argmax(pr)), "probs": [round(float(v), 5) for v in pr]}
                        for i, pr in zip(fold.test, probs, strict=True)]
                save_checkpoint(ckpt_path, **_checkpoint_fields(
                    job, model, norms, labels, report.trained_on, fold.name, seed,
                    [keys[i] for i in fold.train], [keys[i] for i in fold.test]))
                pred_path.write_text(json.dumps(rows) + "\n")   # last: marks the fold done
                predictions[seed] += rows
                progress.advance(overall)
        final = out / "final.pt"
        if not final.exists():
            everything = tuple(range(len(samples)))
            model, norms = train_model(job, everything, recipe.seeds[0], log, "all", writer,
                                       progress, samples)
            save_checkpoint(final, **_checkpoint_fields(
                job, model, norms, labels, report.trained_on, "all", recipe.seeds[0],
                keys, []))
    if writer is not None:
        writer.close()
    results = summarise(predictions, labels, recipe.protocol.name, report.trained_on, {
        "recipe_name": name or out.name, "model": recipe.model.name, "kwargs": kwargs,
        "samples": len(samples), "subjects": len(set(keys)), "folds": len(folds),
        "per_class": report.per_class, "dropped": report.dropped,
        "frames_without_face": clips.missing, "resumed_folds": skipped,
        "device": str(device), "wall_s": round(time.perf_counter() - started, 1)})
    write_results(out, results)
    return results
