"""Train the dense spotter: MicroExpSTCNN with a "no expression" class over windows.

SYNTHETIC DATA ONLY: windows are cut from the aligned-face caches of synthetic scenes
(``train/spotter/data.py``: the production aligner's 64 px faces with micro / macro
ground truth). A window of ``window_ms`` ending at a random time is resampled to T frames
by :func:`pipeline.spotting.dense.window_clip` (the runtime's own function) and labelled

- *micro* when a micro-expression's middle lies in the window's central third and at
  least ``min_inside`` of it lies in the window,
- *macro* likewise for a macro-expression,
- *none* when no expression's middle lies within half a window of its centre;

windows in between (an expression off-centre) are not used, so the network learns to
say micro for centred windows only. Classes are drawn in the ratio ``class_mix``.
Scenes have several faces and the caches keep one ground truth per scene, so a window of
the face without the expression is mislabelled micro: label noise this recipe accepts.

Then the threshold is chosen on the validation caches by running the real
:class:`~pipeline.spotting.dense.DenseSpotter` (MEGC F1, IoU >= 0.5), and the model is
exported to ONNX with ``mestream.dense.*`` metadata.

Run::

    .venv/bin/python -m train.spotter.dense --config configs/train/spotter/dense.yaml
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline.spotting.dense import CLASSES, window_clip
from train.models.stcnn import MicroExpSTCNN
from train.spotter.recipe import DenseSpotterRecipe, as_dict, load_recipe

MICRO, MACRO, NONE = (CLASSES.index(c) for c in ("micro", "macro", "none"))


@dataclass
class Track:
    pts: np.ndarray      # int64 (N,)
    faces: np.ndarray    # uint8 (N, S, S)
    micro: np.ndarray    # int64 (M, 2) ns
    macro: np.ndarray


def load_tracks(dirs: list[Path], pattern: str = "*.npz") -> list[Track]:
    tracks = []
    for d in dirs:
        for p in sorted(d.glob(pattern)):
            if p.name.endswith(".tmp.npz"):
                continue
            z = np.load(p)
            ids, pts, faces = z["tracks"], z["pts"], z["faces"]
            for t in np.unique(ids):
                sel = ids == t
                if sel.sum() < 10:
                    continue
                tracks.append(Track(pts[sel], faces[sel], z["micro"].reshape(-1, 2),
                                    z["macro"].reshape(-1, 2)))
    return tracks


def window_label(spans_micro: np.ndarray, spans_macro: np.ndarray, end_ns: int,
                 window_ns: int, min_inside: float) -> int | None:
    """The class of the window ending at ``end_ns`` (None: ambiguous, not used)."""
    centre, third = end_ns - window_ns / 2, window_ns / 6
    start = end_ns - window_ns
    near = False
    for spans, cls in ((spans_micro, MICRO), (spans_macro, MACRO)):
        for a, b in spans:
            mid = (a + b) / 2
            inside = max(0.0, min(b, end_ns) - max(a, start)) / max(1.0, b - a)
            if abs(mid - centre) <= third and inside >= min_inside:
                return cls
            if abs(mid - centre) <= window_ns / 2 + (b - a) / 2:
                near = True
    return None if near else NONE


def sample_windows(tracks: list[Track], n: int, cfg: dict[str, Any],
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` labelled window clips (float32 (n, 1, T, S, S)) in the configured class mix."""
    window_ns = round(cfg["window_ms"] * 1e6)
    frames, mix = cfg["frames"], np.array(cfg["class_mix"], np.float64)
    want = rng.choice(3, size=n, p=mix / mix.sum())
    # Candidate end times per class: near each expression for micro / macro, anywhere
    # for none; drawn until each wanted class is filled.
    xs, ys = [], []
    for cls in want:
        for _ in range(200):
            tr = tracks[rng.integers(len(tracks))]
            lo, hi = int(tr.pts[0]) + window_ns // 2, int(tr.pts[-1])
            if hi <= lo:
                continue
            spans = tr.micro if cls == MICRO else tr.macro if cls == MACRO else None
            if spans is not None:
                if len(spans) == 0:
                    continue
                a, b = spans[rng.integers(len(spans))]
                end = int((a + b) / 2 + window_ns / 2 + rng.uniform(-1, 1) * window_ns / 7)
                if not lo <= end <= hi:
                    continue
            else:
                end = int(rng.integers(lo, hi))
            label = window_label(tr.micro, tr.macro, end, window_ns, cfg["min_inside"])
            if label != cls:
                continue
            keep = (tr.pts >= end - window_ns - 200_000_000) & (tr.pts <= end)
            clip = window_clip(tr.pts[keep], tr.faces[keep], end, window_ns, frames)
            if rng.random() < 0.5:
                clip = clip[:, :, ::-1]
            xs.append(np.ascontiguousarray(clip))
            ys.append(cls)
            break
    return np.stack(xs)[:, None].astype(np.float32), np.array(ys, np.int64)


def export(model: MicroExpSTCNN, path: Path, cfg: dict[str, Any], chosen: dict[str, float],
           extra: dict[str, str]) -> Path:
    import onnx

    model = model.eval()
    x = torch.zeros(2, 1, cfg["frames"], cfg["size"], cfg["size"])
    torch.onnx.export(model, (x,), str(path), input_names=["clip"], output_names=["logits"],
                      opset_version=17, dynamo=False,
                      dynamic_axes={"clip": {0: "n"}, "logits": {0: "n"}})
    proto = onnx.load(str(path))
    meta = {"mestream.arch": "stcnn_dense_spotter",
            "mestream.dense.window_ms": str(cfg["window_ms"]),
            "mestream.dense.frames": str(cfg["frames"]),
            "mestream.dense.size": str(cfg["size"]),
            "mestream.dense.classes": json.dumps(list(CLASSES)),
            "mestream.trained_on": "SYNTHETIC scenes only (pipeline.synth)",
            **{f"mestream.dense.{k}": str(v) for k, v in chosen.items()}, **extra}
    for k, v in meta.items():
        e = proto.metadata_props.add()
        e.key, e.value = k, v
    onnx.save(proto, str(path))
    return path


def choose_threshold(path: Path, val_dirs: list[Path], thresholds: list[float],
                     pattern: str = "*.npz"
                     ) -> tuple[dict[str, float], list[dict[str, float]]]:
    """The threshold with the best pooled micro F1 on the validation caches."""
    from pipeline.spotting.dense import DenseModel, DenseSpotter
    from pipeline.spotting.evaluate import pooled
    from train.spotter.evaluate import evaluate_cached

    DenseModel._open.clear()  # the file was just rewritten
    # Every threshold sees the same windows: score each window once.
    model = DenseModel.shared(path, 2)
    score, memo = model.p_micro, {}

    def remembered(clip: np.ndarray) -> float:
        key = hashlib.blake2b(clip.tobytes(), digest_size=16).digest()
        if key not in memo:
            memo[key] = score(clip)
        return memo[key]

    model.p_micro = remembered  # type: ignore[method-assign]
    paths = sorted(p for d in val_dirs for p in d.glob(pattern)
                   if not p.name.endswith(".tmp.npz"))
    rows = []
    for th in thresholds:
        res = evaluate_cached(paths, lambda th=th: DenseSpotter(model=path, threshold=th,
                                                                threads=2))
        score = pooled([(r.score, r.video_ms) for r in res])
        rows.append({"threshold": th, "f1": round(score.f1, 4), "tp": score.tp,
                     "fp": score.fp, "fn": score.fn,
                     "fa_per_min": round(score.false_alarms_per_minute, 2)})
        print(json.dumps(rows[-1]), flush=True)
    best = max(rows, key=lambda r: (r["f1"], -r["fa_per_min"]))
    return {"threshold": best["threshold"], "low": best["threshold"]}, rows


def train(cfg: dict[str, Any], base: Path) -> Path:
    torch.manual_seed(cfg["seed"])
    rng = np.random.default_rng(cfg["seed"])
    torch.set_num_threads(cfg.get("threads", 2))
    tracks = load_tracks([base / d for d in cfg["train_dirs"]], cfg.get("train_glob", "*.npz"))
    print(f"{len(tracks)} training tracks", flush=True)
    model = MicroExpSTCNN(frames=cfg["frames"], size=cfg["size"], num_classes=2,
                          no_expression_class=True, filters=cfg.get("filters", 32),
                          hidden=cfg.get("hidden", 128), dropout=cfg.get("dropout", 0.5))
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    t0 = time.time()
    pool_x, pool_y = sample_windows(tracks, cfg["pool"], cfg, rng)
    print(f"window pool {pool_x.shape} in {time.time() - t0:.0f}s; classes "
          f"{np.bincount(pool_y, minlength=3).tolist()}", flush=True)
    model.train()
    for step in range(cfg["steps"]):
        idx = rng.integers(len(pool_x), size=cfg["batch"])
        x = torch.from_numpy(pool_x[idx])
        x = x * torch.empty(len(idx), 1, 1, 1, 1).uniform_(0.7, 1.3)  # contrast jitter
        loss = torch.nn.functional.cross_entropy(model(x), torch.from_numpy(pool_y[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == cfg["steps"] - 1:
            print(f"step {step} loss {loss.item():.3f} ({time.time() - t0:.0f}s)", flush=True)
        if cfg.get("refresh_every") and step and step % cfg["refresh_every"] == 0:
            pool_x, pool_y = sample_windows(tracks, cfg["pool"], cfg, rng)
    out = base / cfg["out"]
    out.parent.mkdir(parents=True, exist_ok=True)
    extra = {"mestream.dense.recipe": json.dumps(cfg)}
    defaults = {"threshold": 0.5, "low": 0.5, "gap_ms": cfg["gap_ms"],
                "stride_ms": cfg["stride_ms"]}
    export(model, out, cfg, defaults, extra)
    chosen, rows = choose_threshold(out, [base / d for d in cfg["val_dirs"]],
                                    cfg["thresholds"], cfg.get("val_glob", "*.npz"))
    extra["mestream.dense.validation"] = json.dumps(rows)
    export(model, out, cfg, {**defaults, **chosen}, extra)
    print(f"wrote {out} (threshold {chosen['threshold']} chosen on validation)")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, required=True)
    a = ap.parse_args(argv)
    cfg = as_dict(load_recipe(a.config, DenseSpotterRecipe))  # checked before any data
    train(cfg, Path.cwd())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
