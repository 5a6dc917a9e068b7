"""Train and compare recognisers on spotted-like spans, tested on a held-out deformation
model (SYNTHETIC data only).

Data: :mod:`train.recognition.data` (``data/recognition/train.npz``, mestream's RBF
generator with domain randomisation; ``heldout.npz``, the Waters muscle + thin-plate
spline model that nothing here trains on or chooses with).

Every clip a model sees is cut the way the spot stage cuts it: the span around the
expression goes through :class:`pipeline.stages.spot.windowing.ClipWindow` (the serving code: linear
in time to T frames), is jittered around the true onset / offset as a spotter's interval
is (a fresh draw every epoch; IoU with the truth >= 0.5), then prepared as
:func:`pipeline.stages.classify.clip_tensor.model_input` prepares it (64 px by area,
frames minus the first, ``(x - mean) / max`` with the training statistics).

Protocol: the 12 subjects in ``--folds`` groups (leave-3-subjects-out by default: every
subject is tested once, by models that never saw its face); per fold and seed a fresh
model trains on the TRAINING-domain clips of the other subjects and predicts the test
subjects' clips of BOTH domains. Predictions are pooled over folds per seed; UF1, UAR
and accuracy are mean +- std over seeds. For ``au_net`` the class is scored two ways
(its class head, and the label set's AU rules applied to its AU probabilities) and the
AU12-vs-AU15 direction is reported.

Run::

    .venv/bin/python -m train.recognition.fit --models au_net stcnn fusenet_late \
        fusenet_intermediate --seeds 0 1 --out runs/recognition
    .venv/bin/python -m train.recognition.fit --models au_net --final --out runs/recognition

Why one module over 400 lines: one protocol (spans cut like the spot stage's, folds by
subject, both domains, head and AU-rule scores) whose parts only make sense together;
the data is ``train.recognition.data``, the models ``train.models``.
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

from pipeline.recognition.au_rules import AUS, present_aus, rule_class
from pipeline.stages.spot.windowing import ClipWindow
from train.checkpoint import save_checkpoint
from train.metrics import recognition_metrics
from train.models.registry import build_model
from train.normalise import Normalisation

DATA = Path("data/recognition")
FRAMES = 18
LABELS = {"megc3": ["negative", "positive", "surprise"],
          "casme2": ["disgust", "happiness", "others", "repression", "surprise"]}
INPUTS = {"stcnn": ("face",), "au_net": ("face",), "au_net_lk": ("face",),
          "fusenet_late": ("eyes", "mouth"), "fusenet_intermediate": ("eyes", "mouth"),
          "time_contrast": ("face",)}
ARCH = {"au_net_lk": "au_net"}
"""Names here that are a variant of a registry model (train.models.registry)."""


def arch_of(model_name: str) -> str:
    """The registry model a name here builds."""
    return ARCH.get(model_name, model_name)


TIME_CONTRAST_KWARGS = {"widths": [8, 16, 32], "hidden": 32, "pool": "mean"}
"""As configs/train/time_contrast_synth.yaml: small enough for a CPU."""
AU_NET_KWARGS = {"clip_norm": True, "backbone": "stcnn"}
EXTRA_KWARGS = {"time_contrast": TIME_CONTRAST_KWARGS, "au_net": AU_NET_KWARGS,
                "au_net_lk": {**AU_NET_KWARGS, "motion": "lucas_kanade"}}
RAW_FRAMES = ("time_contrast", "au_net_lk")
"""Models fed the raw frames (they compute their own motion: the time-contrast net's
differences, the LK variant's optical flow); the other 3D-CNNs take frames minus the
first (``preparation.reference: first``)."""
INTENSITY_WEIGHT = 0.5
"""lambda of the time-contrast net's intensity term (MSE on the planted apex px)."""
TRAINED_ON = ("synthetic: mestream's RBF generator with domain randomisation on real faces "
              "(11 GRID speakers + astronaut), rendered in the aligned face")


@dataclass
class Domain:
    """One ``.npz`` of :mod:`train.recognition.data`, in memory."""

    name: str
    arrays: dict[str, np.ndarray]

    @classmethod
    def load(cls, path: Path) -> Domain:
        with np.load(path) as z:
            return cls(str(z["domain"]), {k: z[k] for k in z.files})

    @classmethod
    def load_all(cls, paths: list[Path]) -> Domain:
        """Several files of one domain as one (frames concatenated, starts shifted)."""
        parts = [cls.load(p) for p in paths]
        if len(parts) == 1:
            return parts[0]
        a: dict[str, np.ndarray] = {"domain": parts[0].arrays["domain"]}
        offset, starts = 0, []
        for d in parts:
            starts.append(d.arrays["start"][:-1] + offset)
            offset += int(d.arrays["start"][-1])
        a["start"] = np.concatenate([*starts, [offset]])
        for k in parts[0].arrays:
            if k not in ("domain", "start"):
                a[k] = np.concatenate([d.arrays[k] for d in parts])
        return cls(parts[0].name, a)

    def __len__(self) -> int:
        return len(self.arrays["onset_ns"])

    @property
    def subjects(self) -> np.ndarray:
        return self.arrays["subject"]

    def aus(self, k: int) -> set[str]:
        return set(str(self.arrays["aus"][k]).split("+"))

    def window(self, k: int) -> ClipWindow:
        a = self.arrays
        lo, hi = int(a["start"][k]), int(a["start"][k + 1])
        w = ClipWindow(history_ms=1e9)
        for j in range(lo, hi):
            w.append(int(a["pts"][j]), j - lo, a["face"][j], a["eyes"][j], a["mouth"][j])
        return w


def jittered_span(onset: int, offset: int, rng: np.random.Generator | None
                  ) -> tuple[int, int]:
    """A spotter-like interval around the truth: start and end moved by up to a third of
    the duration (never shorter than 40 % of it); the truth itself when ``rng`` is None."""
    if rng is None:
        return onset, offset
    dur = offset - onset
    while True:
        s = onset + rng.uniform(-0.33, 0.25) * dur
        e = offset + rng.uniform(-0.25, 0.33) * dur
        inter = max(0.0, min(e, offset) - max(s, onset))
        union = max(e, offset) - min(s, onset)
        if e - s >= 0.4 * dur and inter / union >= 0.5:
            return int(s), int(e)


def cut(domain: Domain, idx: np.ndarray, rng: np.random.Generator | None,
        windows: dict[int, ClipWindow], spans: list | None = None) -> dict[str, np.ndarray]:
    """uint8 clips (n, T, H, W) per stream for clips ``idx``, spans jittered by ``rng``
    (appended to ``spans`` when given)."""
    out: dict[str, list[np.ndarray]] = {"face": [], "eyes": [], "mouth": []}
    a = domain.arrays
    for k in idx:
        k = int(k)
        if k not in windows:
            windows[k] = domain.window(k)
        s, e = jittered_span(int(a["onset_ns"][k]), int(a["offset_ns"][k]), rng)
        clip = windows[k].clip(s, e, FRAMES)
        if spans is not None:
            spans.append((clip.start_ns, clip.end_ns))
        out["face"].append(clip.face)
        out["eyes"].append(clip.eyes)
        out["mouth"].append(clip.mouth)
    return {k: np.stack(v) for k, v in out.items()}


def differences(x: np.ndarray) -> np.ndarray:
    """Frames minus each clip's first frame (``reference: first``), float32."""
    return x.astype(np.float32) - x[:, :1].astype(np.float32)


def targets(domain: Domain, idx: np.ndarray, label_set: str
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(class ids, has-a-class mask, multi-hot AUs) of clips ``idx``."""
    names = LABELS[label_set]
    ys, mask, hot = [], [], []
    for k in idx:
        aus = domain.aus(int(k))
        c = rule_class(label_set, aus)
        ys.append(names.index(c) if c in names else 0)
        mask.append(c in names)
        hot.append([au in aus for au in AUS])
    return (np.asarray(ys, np.int64), np.asarray(mask, bool),
            np.asarray(hot, np.float32))


def _prepared(model_name: str, x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32) if model_name in RAW_FRAMES else differences(x)


def _tensors(model_name: str, clips: dict[str, np.ndarray],
             norms: dict[str, Normalisation], rng: np.random.Generator | None = None
             ) -> list[torch.Tensor]:
    """Model inputs; with ``rng`` (training) each clip is mirrored with probability 1/2
    (the planted AUs are bilateral, so the class and AUs stay) and its motion scaled by
    0.8-1.25 (another face's contrast, another camera's gain)."""
    axis = 2 if model_name == "time_contrast" else 1      # (N, T, 1, H, W) vs (N, 1, T, ..)
    out = []
    flip = gain = None
    if rng is not None:
        n = len(next(iter(clips.values())))
        flip = rng.random(n) < 0.5
        gain = rng.uniform(0.8, 1.25, n).astype(np.float32)
    for s in INPUTS[model_name]:
        x = _prepared(model_name, clips[s])
        if flip is not None:
            x[flip] = x[flip][..., ::-1]
            x *= gain[:, None, None, None]
        out.append(torch.from_numpy(np.ascontiguousarray(
            np.expand_dims(norms[s].apply(x), axis))))
    return out


def spot_targets(domain: Domain, idx: np.ndarray, spans: list[tuple[int, int]]) -> np.ndarray:
    """(n, T) 1 where the resampled frame's time lies inside onset..offset."""
    a = domain.arrays
    out = np.zeros((len(idx), FRAMES), np.float32)
    for r, (k, (s, e)) in enumerate(zip(idx, spans, strict=True)):
        t = np.linspace(s, e, FRAMES)
        out[r] = (t >= a["onset_ns"][k]) & (t <= a["offset_ns"][k])
    return out


def model_loss(out, y: torch.Tensor, mask: torch.Tensor, hot: torch.Tensor,
               spot: torch.Tensor, intensity: torch.Tensor, au_weight: float = 1.0,
               intensity_weight: float = INTENSITY_WEIGHT) -> torch.Tensor:
    """The training loss of any recogniser here: CE on clips with a class; + BCE on the
    AUs (au_net); + BCE on the per-frame spot targets and ``intensity_weight`` x MSE on the
    planted intensity (time_contrast: both of seed 2's extra heads are trained)."""
    if hasattr(out, "spot"):
        from train.models.time_contrast import time_contrast_loss

        keep = mask if bool(mask.any()) else torch.ones_like(mask)
        sel = type(out)(out.spot[keep], out.label[keep], out.intensity[keep])
        return time_contrast_loss(sel, spot[keep], y[keep], intensity[keep],
                                  intensity_weight)
    if hasattr(out, "au_logits"):
        from train.models.au_net import au_net_loss

        return au_net_loss(out, y, hot, au_weight, class_mask=mask)
    return F.cross_entropy(out[mask], y[mask]) if bool(mask.any()) else out.sum() * 0


def _logits(out) -> tuple[torch.Tensor, torch.Tensor | None]:
    if isinstance(out, tuple) and hasattr(out, "au_logits"):
        return out.logits, out.au_logits
    if isinstance(out, tuple) and hasattr(out, "spot"):
        return out.label, None
    return out, None


def train_one(model_name: str, domain: Domain, train_idx: np.ndarray, label_set: str,
              seed: int, epochs: int, batch: int = 32, lr: float = 1e-3,
              au_weight: float = 1.0, log=print, augment: bool = True
              ) -> tuple[torch.nn.Module, dict]:
    """A fresh model trained on ``train_idx`` (fresh span jitter every epoch)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng([seed, 0xF17])
    windows: dict[int, ClipWindow] = {}
    ys, mask, hot = targets(domain, train_idx, label_set)
    intensity = domain.arrays["intensity_px"][train_idx].astype(np.float32)
    # Normalisation statistics from one jittered pass over the training clips only.
    spans: list[tuple[int, int]] = []
    first = cut(domain, train_idx, rng, windows, spans)
    norms = {s: Normalisation.fit([_prepared(model_name, first[s])])
             for s in INPUTS[model_name]}
    size = 64 if INPUTS[model_name] == ("face",) else 32
    kwargs = {"frames": FRAMES, "size": size, "num_classes": len(LABELS[label_set])}
    kwargs.update(EXTRA_KWARGS.get(model_name, {}))
    model = build_model(arch_of(model_name), kwargs)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    for epoch in range(epochs):
        t0 = time.perf_counter()
        model.train()
        order = rng.permutation(len(train_idx))
        if epoch:
            spans = []
            clips = cut(domain, train_idx, rng, windows, spans)
        else:
            clips = first
        spot = spot_targets(domain, train_idx, spans)
        total = 0.0
        for b in range(0, len(order), batch):
            sel = order[b:b + batch]
            xs = _tensors(model_name, {k: v[sel] for k, v in clips.items()}, norms,
                          rng if augment else None)
            loss = model_loss(model(*xs), torch.from_numpy(ys[sel]),
                              torch.from_numpy(mask[sel]), torch.from_numpy(hot[sel]),
                              torch.from_numpy(spot[sel]), torch.from_numpy(intensity[sel]),
                              au_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(sel)
        sched.step()
        log(f"  {model_name} seed {seed} epoch {epoch + 1}/{epochs} loss "
            f"{total / len(order):.4f} ({time.perf_counter() - t0:.0f} s)")
    return model.eval(), {"kwargs": kwargs, "norms": norms}


@torch.no_grad()
def predict(model: torch.nn.Module, model_name: str, domain: Domain, idx: np.ndarray,
            norms: dict[str, Normalisation], seed: int) -> dict[str, np.ndarray]:
    """Class probabilities (and AU probabilities) on spotter-like spans (fixed jitter);
    ``*_mirror``: the same averaged with the mirrored clip's (the planted AUs are
    bilateral, training mirrors clips: a test-time average of the two views)."""
    rng = np.random.default_rng([seed, 0xE7A1])
    windows: dict[int, ClipWindow] = {}
    parts: dict[str, list[np.ndarray]] = {}
    for b in range(0, len(idx), 64):
        clips = cut(domain, idx[b:b + 64], rng, windows)
        xs = _tensors(model_name, clips, norms)
        for suffix, view in (("", xs), ("_mirror", [x.flip(-1) for x in xs])):
            out = model(*view)
            logits, au_logits = _logits(out)
            parts.setdefault("probs" + suffix, []).append(torch.softmax(logits, 1).numpy())
            if au_logits is not None:
                parts.setdefault("aus" + suffix, []).append(torch.sigmoid(au_logits).numpy())
            if hasattr(out, "intensity") and not suffix:
                parts.setdefault("intensity", []).append(out.intensity.numpy())
    result = {k: np.concatenate(v) for k, v in parts.items()}
    for k in ("probs", "aus"):
        if k in result:
            result[k + "_mirror"] = (result[k] + result[k + "_mirror"]) / 2
    return result


def rule_predictions(au_probs: np.ndarray, head_probs: np.ndarray, label_set: str
                     ) -> np.ndarray:
    """The class from the AU rules, the head's where no rule applies."""
    names = LABELS[label_set]
    out = []
    for a, h in zip(au_probs, head_probs, strict=True):
        c = rule_class(label_set, present_aus(dict(zip(AUS, a, strict=True))))
        out.append(names.index(c) if c in names else int(np.argmax(h)))
    return np.asarray(out)


def direction_accuracy(domain: Domain, idx: np.ndarray, au_probs: np.ndarray
                       ) -> tuple[int, int]:
    """(right, total) over clips with AU12 or AU15 (not both): the larger of the two AU
    probabilities names the right one."""
    i12, i15 = AUS.index("AU12"), AUS.index("AU15")
    right = total = 0
    for k, p in zip(idx, au_probs, strict=True):
        aus = domain.aus(int(k))
        if ("AU12" in aus) == ("AU15" in aus):
            continue
        total += 1
        right += int((p[i12] > p[i15]) == ("AU12" in aus))
    return right, total


def subject_folds(subjects: np.ndarray, folds: int) -> list[list[str]]:
    names = sorted(set(subjects.tolist()))
    return [names[f::folds] for f in range(folds)]


def _metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    m = recognition_metrics(y.tolist(), pred.tolist())
    return {k: round(float(m[k]), 4) for k in ("uf1", "uar", "accuracy")}


def compare(models: list[str], seeds: list[int], folds: int, epochs: int, label_set: str,
            train: Domain, heldout: Domain, out: Path) -> dict:
    """The comparison table's numbers (module docstring); writes ``out/results.json``."""
    out.mkdir(parents=True, exist_ok=True)
    groups = subject_folds(train.subjects, folds)
    results: dict = {"label_set": label_set, "folds": groups, "epochs": epochs,
                     "seeds": seeds, "models": {}}
    for model_name in models:
        per_seed: dict[str, list[dict]] = {}
        for seed in seeds:
            pooled: dict[str, dict[str, list]] = {}
            for test_subjects in groups:
                tr = np.flatnonzero(~np.isin(train.subjects, test_subjects))
                model, info = train_one(model_name, train, tr, label_set, seed, epochs)
                for dom in (train, heldout):
                    te = np.flatnonzero(np.isin(dom.subjects, test_subjects))
                    y, mask, _ = targets(dom, te, label_set)
                    te, y = te[mask], y[mask]
                    p = predict(model, model_name, dom, te, info["norms"], seed)
                    acc = pooled.setdefault(dom.name, {"y": [], "head": [], "rule": [],
                                                       "dir": [0, 0], "head_mirror": [],
                                                       "rule_mirror": [],
                                                       "dir_mirror": [0, 0]})
                    acc["y"] += y.tolist()
                    acc["head"] += p["probs"].argmax(1).tolist()
                    acc["head_mirror"] += p["probs_mirror"].argmax(1).tolist()
                    if "intensity" in p:
                        acc.setdefault("intensity_err", []).extend(np.abs(
                            p["intensity"] - dom.arrays["intensity_px"][te]).tolist())
                    if "aus" in p:
                        for sfx in ("", "_mirror"):
                            acc["rule" + sfx] += rule_predictions(
                                p["aus" + sfx], p["probs" + sfx], label_set).tolist()
                            r, t = direction_accuracy(dom, te, p["aus" + sfx])
                            acc["dir" + sfx][0] += r
                            acc["dir" + sfx][1] += t
            for dom_name, acc in pooled.items():
                y_all = np.array(acc["y"])
                row = {"domain": dom_name, "seed": seed, "clips": len(acc["y"]),
                       "head": _metrics(y_all, np.array(acc["head"])),
                       "head_mirror": _metrics(y_all, np.array(acc["head_mirror"]))}
                if acc.get("intensity_err"):
                    row["intensity_mae_px"] = round(float(np.mean(acc["intensity_err"])), 3)
                if acc["rule"]:
                    row["rules"] = _metrics(y_all, np.array(acc["rule"]))
                    row["direction"] = acc["dir"]
                    row["rules_mirror"] = _metrics(y_all, np.array(acc["rule_mirror"]))
                    row["direction_mirror"] = acc["dir_mirror"]
                per_seed.setdefault(dom_name, []).append(row)
                print(json.dumps({"model": model_name, **row}), flush=True)
        results["models"][model_name] = per_seed
        (out / "results.json").write_text(json.dumps(results, indent=1))
    return results


def final_model(model_name: str, label_set: str, epochs: int, seed: int, train: Domain,
                out: Path, exclude: tuple[str, ...] = (), label_source: str = "head",
                mirror_average: bool = False) -> Path:
    """Train on every subject but ``exclude`` and save a checkpoint ``mestream export``
    reads (``exclude``: faces kept unseen for a pipeline-level test on them;
    ``label_source``: ``aus`` makes the served label the AU rules' class, ``head`` the
    class head's; AU models only; ``mirror_average``: the served model averages each clip
    with its mirror image, AU models only)."""
    if label_source not in ("head", "aus"):
        raise ValueError(f"label_source must be 'head' or 'aus', got {label_source!r}")
    unknown = set(exclude) - set(train.subjects.tolist())
    if unknown:
        raise ValueError(f"no such subjects in the training data: {sorted(unknown)}")
    idx = np.flatnonzero(~np.isin(train.subjects, list(exclude)))
    model, info = train_one(model_name, train, idx, label_set, seed, epochs)
    if mirror_average:
        if arch_of(model_name) != "au_net":
            raise ValueError("mirror_average is an AU model option")
        info["kwargs"] = {**info["kwargs"], "mirror_average": True}
    trained_on = TRAINED_ON + (f"; faces left out of training: {', '.join(sorted(exclude))}"
                               if exclude else "")
    path = out / f"{model_name}_{label_set}.pt"
    inputs = INPUTS[model_name]
    preparation = {"mode": "interpolate", "frames": FRAMES, "size": info["kwargs"]["size"],
                   "region_size": 32, "stabilise": "one_euro",
                   "reference": "none" if model_name in RAW_FRAMES else "first",
                   "spans": "spotter-like jitter around onset..offset (train.recognition)"}
    arch = arch_of(model_name)
    save_checkpoint(path, arch=arch, class_name=type(model).__name__,
                    kwargs=info["kwargs"], state_dict=model.state_dict(),
                    labels=LABELS[label_set], inputs={s: s for s in inputs},
                    normalisation={s: info["norms"][s].to_dict() for s in inputs},
                    preparation=preparation, recipe={"train.recognition.fit": {
                        "epochs": epochs, "seed": seed}}, trained_on=trained_on,
                    fold="all" if not exclude else "all but test_subjects", seed=seed,
                    epochs=epochs, train_subjects=sorted(set(train.subjects[idx].tolist())),
                    test_subjects=sorted(exclude),
                    label_set=label_set, aus=list(AUS) if arch == "au_net" else [],
                    intensity_trained=model_name == "time_contrast",
                    **({"label_source": label_source} if arch == "au_net" else {}))
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["au_net"], choices=sorted(INPUTS))
    ap.add_argument("--label-set", default="megc3", choices=sorted(LABELS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--folds", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--train-files", nargs="+", default=["train.npz"],
                    help="training-domain files under --data (concatenated)")
    ap.add_argument("--out", type=Path, default=Path("runs/recognition"))
    ap.add_argument("--final", action="store_true", help="train on all subjects and save "
                    "a checkpoint per model instead of comparing")
    ap.add_argument("--exclude-subjects", nargs="+", default=[], metavar="SUBJECT",
                    help="with --final: faces left out of training (kept unseen for a "
                    "pipeline-level test on them, e.g. configs/heldout_recognition.yaml's)")
    ap.add_argument("--label-source", choices=["head", "aus"], default="head",
                    help="with --final, AU models: the served label is the class head's "
                    "(head) or the label set's AU rules' class (aus)")
    ap.add_argument("--mirror-average", action="store_true",
                    help="with --final, AU models: the served model averages each clip "
                    "with its mirror image")
    a = ap.parse_args(argv)
    if a.exclude_subjects and not a.final:
        ap.error("--exclude-subjects goes with --final (the comparison holds faces out "
                 "by folds)")
    torch.set_num_threads(2)
    train = Domain.load_all([a.data / f for f in a.train_files])
    if a.final:
        for m in a.models:
            print(final_model(m, a.label_set, a.epochs, a.seeds[0], train, a.out,
                              tuple(a.exclude_subjects), a.label_source,
                              a.mirror_average))
        return 0
    heldout = Domain.load(a.data / "heldout.npz")
    compare(a.models, a.seeds, a.folds, a.epochs, a.label_set, train, heldout, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
