"""Train the learned spotter (:class:`~train.models.time_contrast.TimeContrastStreamSpotter`)
on cached SYNTHETIC scenes, on CPU, and export its per-tick step to ONNX.

Run (after caching the scenes, :mod:`train.spotter.data`)::

    .venv/bin/python -m train.spotter.fit --config configs/train/spotter/learned.yaml

Writes ``<out>/spotter_learned.pt`` (state dict + config) and ``<out>/spotter_learned.onnx``
(inputs ``faces`` float32 (N, window, S, S) in [0, 1] and ``state`` float32
(N, state_size); outputs ``logit`` (N,) and ``state_out``; ``mestream.spotter.*``
metadata the runtime reads: tick_ms, lags, delay, size, window, state_size).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from train.models.time_contrast import TimeContrastStreamSpotter, ema_contrast
from train.spotter.recipe import LearnedSpotterRecipe, as_dict, load_recipe
from train.spotter.ticks import TickTrack, event_ticks, load_dirs
from train.torch_files import load_torch_file


@dataclass
class Sequences:
    """The precomputed ``[x_t ; c_t]`` of every track (the fixed front end of the model
    runs once), with labels and weights per tick."""

    xc: list[torch.Tensor]
    labels: list[torch.Tensor]
    weights: list[torch.Tensor]


def track_features(model: TimeContrastStreamSpotter, track: TickTrack) -> torch.Tensor:
    """Raw (unstandardised) ``x_t`` of every tick of a track ``(K, F)``; the first
    ``window - 1`` ticks repeat the first face as the runtime does."""
    faces = torch.from_numpy(track.faces.astype(np.float32) / 255.0)
    pad = faces[:1].expand(model.window - 1, -1, -1)
    faces = torch.cat([pad, faces], 0)
    windows = faces.unfold(0, model.window, 1).permute(0, 3, 1, 2)   # (K, W, S, S)
    out = [model.raw_features(windows[i:i + 512]) for i in range(0, len(windows), 512)]
    return torch.cat(out, 0)


def weigh_events(tracks: list[TickTrack], weights: dict[str, float], tick_ms: float) -> None:
    """Scale the tick weights of the micro-expressions of TALKING faces whose action units
    (``"AU12"``, ``"AU6+AU12"``: joined by ``+``) are in ``weights``: a class-balanced
    loss for the events speech hides (the scenes are replanned to learn their action
    units, :mod:`lab.spotter.recall`)."""
    from train.spotter.scenes import planned_micro, scene_of

    tick_ns = round(tick_ms * 1e6)
    counts: dict[str, int] = {}
    plans: dict[Path, tuple[list, bool]] = {}    # a scene's tracks share its plan
    for t in tracks:
        if t.source is None or not len(t.micro):
            continue
        if t.source not in plans:
            plans[t.source] = planned_micro(scene_of(t.source), t.source)
        events, talking = plans[t.source]
        if not talking:
            continue
        for e, span in zip(events, t.micro, strict=True):
            key = "+".join(e.aus)
            if key in weights:
                on = event_ticks(t, (int(span[0]), int(span[1])), tick_ns)
                t.weights[on] *= float(weights[key])
                counts[key] = counts.get(key, 0) + 1
    print(f"event weights {weights} on talking faces: {counts}", flush=True)


def sequences(model: TimeContrastStreamSpotter, tracks: list[TickTrack],
              raw: list[torch.Tensor]) -> Sequences:
    """Standardised ``[x ; c]`` per track, kept in float16 (half the memory: ~800 scenes
    of 1.8k features fit twice in 24 GB); ``raw`` is emptied as it goes."""
    xc = []
    for i in range(len(raw)):
        x = (raw[i] - model.mean) / model.std
        raw[i] = torch.empty(0)                     # (a view would keep the storage)
        xc.append(torch.cat([x, ema_contrast(x, model.ema)], 1).half())
    return Sequences(xc, [torch.from_numpy(t.labels) for t in tracks],
                     [torch.from_numpy(t.weights) for t in tracks])


@dataclass
class Flip:
    """``[x ; c]`` of a horizontally mirrored face: ``xc[:, index] * sign + offset``.
    Cells are row-major; the flow's ``u`` changes sign, which in standardised units is
    ``-x - 2 mean / std`` for ``x`` and ``-c`` for the contrast (the means cancel)."""

    index: torch.Tensor
    sign: torch.Tensor
    offset: torch.Tensor

    def __call__(self, xc: torch.Tensor) -> torch.Tensor:
        return xc[:, self.index] * self.sign + self.offset


def flip_index(model: TimeContrastStreamSpotter) -> Flip:
    """The feature map of a horizontally mirrored face (see :class:`Flip`)."""
    def mirrored(c: int) -> torch.Tensor:
        return torch.arange(c * c).reshape(c, c).flip(1).flatten()

    c, fc = model.cells, model.flow_cells
    parts, signs, at = [], [], 0
    for _ in range(len(model.lags) + len(model.signed_lags)):
        parts.append(mirrored(c) + at)
        signs.append(torch.ones(c * c))
        at += c * c
    for _ in model.flow_lags:
        for s in (-1.0, 1.0):                      # u, then v
            parts.append(mirrored(fc) + at)
            signs.append(torch.full((fc * fc,), s))
            at += fc * fc
    one, sign = torch.cat(parts), torch.cat(signs)
    offset = torch.where(sign < 0, -2 * model.mean / model.std, torch.zeros_like(sign))
    return Flip(torch.cat([one, one + model.features]), torch.cat([sign, sign]),
                torch.cat([offset, torch.zeros_like(offset)]))


def sample_batch(seqs: Sequences, rng: np.random.Generator, batch: int, length: int,
                 flip: Flip | None) -> tuple[torch.Tensor, ...]:
    """``batch`` random windows of ``length`` ticks: (xc, labels, weights)."""
    sizes = np.asarray([max(0, len(x) - length + 1) for x in seqs.xc], np.float64)
    picks = rng.choice(len(sizes), batch, p=sizes / sizes.sum())
    xs, ls, ws = [], [], []
    for k in picks:
        s = int(rng.integers(0, sizes[k]))
        x = seqs.xc[k][s:s + length].float()
        if flip is not None and rng.random() < 0.5:
            x = flip(x)
        xs.append(x)
        ls.append(seqs.labels[k][s:s + length])
        ws.append(seqs.weights[k][s:s + length])
    return torch.stack(xs), torch.stack(ls), torch.stack(ws)


def sequence_loss(model: TimeContrastStreamSpotter, xc: torch.Tensor, labels: torch.Tensor,
                  weights: torch.Tensor, warmup: int, pos_weight: float,
                  focal_gamma: float = 0.0) -> torch.Tensor:
    """Weighted BCE of logit ``t`` against the label of tick ``t - delay``, for
    ``t >= warmup`` (the memory has seen some context). ``focal_gamma`` > 0 scales each
    tick by ``(1 - p_true) ** gamma`` (Lin et al.'s focal loss): the ticks the model already
    gets right stop dominating, so the rare hard events (a lone lip-corner action unit under
    speech) weigh more."""
    logits = model(xc)                                     # (B, T)
    idx = torch.arange(max(warmup, model.delay), logits.shape[1])
    target = labels[:, idx - model.delay]
    weight = weights[:, idx - model.delay] * (1 + (pos_weight - 1) * target)
    logit = logits[:, idx]
    if focal_gamma > 0:
        p_true = torch.where(target > 0.5, torch.sigmoid(logit), torch.sigmoid(-logit))
        weight = weight * (1 - p_true).detach() ** focal_gamma
    return F.binary_cross_entropy_with_logits(logit, target, weight=weight)


def validation_loss(model: TimeContrastStreamSpotter, val: Sequences, warmup: int,
                    pos_weight: float, focal_gamma: float = 0.0) -> float:
    """The mean training loss over whole validation tracks (eval mode)."""
    model.eval()
    with torch.no_grad():
        losses = [sequence_loss(model, x[None].float(), y[None], w[None], warmup,
                                pos_weight, focal_gamma).item()
                  for x, y, w in zip(val.xc, val.labels, val.weights, strict=True)]
    model.train()
    return float(np.mean(losses))


class _Step(torch.nn.Module):
    def __init__(self, model: TimeContrastStreamSpotter):
        super().__init__()
        self.model = model

    def forward(self, faces: torch.Tensor, state: torch.Tensor):
        return self.model.step(faces, state)


def export_onnx(model: TimeContrastStreamSpotter, path: Path, extra: dict[str, str]) -> Path:
    """The per-tick step as ONNX (dynamic batch) with ``mestream.spotter.*`` metadata."""
    import onnx

    model = model.eval()
    w = torch.rand(2, model.window, model.size, model.size)
    s = torch.zeros(2, model.state_size)
    torch.onnx.export(_Step(model).eval(), (w, s), str(path), input_names=["faces", "state"],
                      output_names=["logit", "state_out"], opset_version=17, dynamo=False,
                      dynamic_axes={"faces": {0: "n"}, "state": {0: "n"}, "logit": {0: "n"},
                                    "state_out": {0: "n"}})
    proto = onnx.load(str(path))
    meta = {"mestream.arch": "time_contrast_stream_spotter",
            "mestream.spotter.tick_ms": str(model.tick_ms),
            "mestream.spotter.lags": json.dumps(list(model.lags)),
            "mestream.spotter.signed_lags": json.dumps(list(model.signed_lags)),
            "mestream.spotter.delay": str(model.delay),
            "mestream.spotter.size": str(model.size),
            "mestream.spotter.window": str(model.window),
            "mestream.spotter.state_size": str(model.state_size),
            "mestream.trained_on": "SYNTHETIC scenes only (pipeline.synth)", **extra}
    for k, v in meta.items():
        e = proto.metadata_props.add()
        e.key, e.value = k, v
    onnx.save(proto, str(path))
    return path


def train(cfg: dict, base: Path) -> Path:
    torch.manual_seed(int(cfg.get("seed", 0)))
    torch.set_num_threads(int(cfg.get("threads", 2)))
    rng = np.random.default_rng(int(cfg.get("seed", 0)))
    model = TimeContrastStreamSpotter(**{k: tuple(v) if isinstance(v, list) else v
                                         for k, v in dict(cfg.get("model", {})).items()})
    t0 = time.monotonic()
    tracks = load_dirs([base / d for d in cfg["data"]], model.tick_ms,
                       float(cfg.get("macro_weight", 0.3)), cfg.get("scenes"))
    if cfg.get("event_weights"):
        weigh_events(tracks, dict(cfg["event_weights"]), model.tick_ms)
    raw = [track_features(model, t) for t in tracks]
    ticks = sum(len(x) for x in raw)
    total = sum(x.double().sum(0) for x in raw)
    mean = total / ticks
    var = sum(((x.double() - mean) ** 2).sum(0) for x in raw) / (ticks - 1)
    model.mean.copy_(mean.float())
    model.std.copy_(var.sqrt().float().clamp_min(1e-3))
    seqs = sequences(model, tracks, raw)
    pos = sum(float(t.labels.sum()) for t in tracks)
    print(f"{len(tracks)} tracks, {ticks} ticks, {pos:.0f} micro ticks; features "
          f"{time.monotonic() - t0:.0f}s", flush=True)
    lr = float(cfg.get("lr", 2e-3))
    opt = torch.optim.AdamW(model.parameters(), lr=lr,
                            weight_decay=float(cfg.get("weight_decay", 1e-4)))
    steps = int(cfg.get("steps", 1000))
    budget_s = float(cfg.get("budget_minutes", 1e9)) * 60
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps)
    length, batch = int(cfg.get("length", 150)), int(cfg.get("batch", 32))
    warmup = int(cfg.get("warmup", 20))
    flip = flip_index(model) if cfg.get("flip", True) else None
    val = None
    if cfg.get("val"):
        # Early stopping: the weighted loss on whole validation tracks, every eval_every.
        vtracks = load_dirs([base / d for d in cfg["val"]], model.tick_ms,
                            float(cfg.get("macro_weight", 0.3)))
        val = sequences(model, vtracks, [track_features(model, t) for t in vtracks])
    best: tuple[float, dict, int] | None = None
    noise = float(cfg.get("feature_noise", 0.0))
    focal = float(cfg.get("focal_gamma", 0.0))
    model.train()
    ema = None
    t0 = time.monotonic()
    for step in range(steps):
        xc, labels, weights = sample_batch(seqs, rng, batch, length, flip)
        if noise:
            xc = xc + noise * torch.randn_like(xc)
        loss = sequence_loss(model, xc, labels, weights, warmup,
                             float(cfg.get("pos_weight", 3.0)), focal)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        if val is not None and (step + 1) % int(cfg.get("eval_every", 50)) == 0:
            vloss = validation_loss(model, val, warmup, float(cfg.get("pos_weight", 3.0)),
                                    focal)
            if best is None or vloss < best[0]:
                best = (vloss, {k: v.clone() for k, v in model.state_dict().items()}, step + 1)
            print(f"step {step + 1} val loss {vloss:.4f} (best {best[0]:.4f} at {best[2]})",
                  flush=True)
        if step % 100 == 0:
            print(f"step {step} loss {ema:.4f} {time.monotonic() - t0:.0f}s", flush=True)
        if time.monotonic() - t0 > budget_s:
            print(f"time budget reached at step {step}", flush=True)
            break
    if best is not None:
        model.load_state_dict(best[1])
        print(f"kept step {best[2]} (validation loss {best[0]:.4f})", flush=True)
    out = base / cfg.get("out", "runs/spotter_learned")
    out.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": model.state_dict(), "config": cfg}, out / "spotter_learned.pt")
    onnx_path = export_onnx(model, out / "spotter_learned.onnx",
                            {"mestream.spotter.train_steps": str(step + 1)})
    print(f"wrote {onnx_path}", flush=True)
    return onnx_path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="train the learned spotter (SYNTHETIC data)")
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--steps", type=int, help="override the recipe's steps")
    ap.add_argument("--export", type=Path, metavar="PT",
                    help="only export this checkpoint (written by a run) to ONNX beside it")
    a = ap.parse_args(argv)
    if a.export:
        ckpt = load_torch_file(a.export)
        model = TimeContrastStreamSpotter(**{k: tuple(v) if isinstance(v, list) else v
                                             for k, v in ckpt["config"]["model"].items()})
        model.load_state_dict(ckpt["state_dict"])
        print(export_onnx(model, a.export.with_suffix(".onnx"), {}))
        return 0
    recipe = load_recipe(a.config, LearnedSpotterRecipe)  # checked before any data
    if a.steps:
        recipe.steps = a.steps
    cfg = as_dict(recipe)
    # Paths in the recipe are relative to the repository root (where pyproject.toml is).
    root = next((p for p in a.config.resolve().parents if (p / "pyproject.toml").exists()),
                Path.cwd())
    train(cfg, root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
