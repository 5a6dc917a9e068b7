"""Train the lip-corner detector (:mod:`train.models.mouth_corner`) on the canonical
training scenes and join it to a learned-spotter ensemble (SYNTHETIC data only).

1. **Targets** (:func:`corner_ticks`): each cached canonical scene is replanned from its job
   (:func:`lab.spotter.recall.scene_of`; nothing is rendered) and, at every tick, the
   displacement the generator PLANTED at the lip corners (expressions only: speech, blinks
   and head motion read zero) is projected on AU12's direction. Mouth crops and targets are
   kept in one ``.npz`` (``--cache``; ~10 min for 780 scenes on 2 cores, once).
2. **Movement net**: :class:`MouthCornerNet` regresses the targets' change over its span
   (smooth L1; a quarter of each batch from ticks whose target moved; mirrored faces half
   of the time, AU12 being symmetric).
3. **Head**: :class:`CornerSpotter`'s MLP on ``back + ahead + 1`` ticks of the net's output,
   trained with the spotter's tick labels (BCE) for micro-expressions that move the
   corners (AU12 or AU15 among their action units); ticks of other micro-expressions weigh
   0 (the ensemble finds those), of macro-expressions ``macro_weight``.
4. ``--fuse``: the ensemble of the given spotter checkpoints and the corner detector as one
   ONNX step (:class:`CornerFusedSpotter`: the larger logit), which runs as
   ``spotter: learned`` unchanged; choose its post-processing with
   :mod:`train.spotter.select`.

Run::

    .venv/bin/python -m train.spotter.corner --out runs/spotter_corner \\
        --fuse runs/spotter_learned_c2_cells16/spotter_learned.pt \\
               runs/spotter_learned_c2_flow/spotter_learned.pt \\
               runs/spotter_learned_c2_flow_mw1/spotter_learned.pt
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from pipeline.spotting.evaluate import frame_span_ns
from pipeline.synth.face_layer import CONTROL_ROW
from train.models.mouth_corner import (
    MOUTH_COLS,
    MOUTH_ROWS,
    CornerFusedSpotter,
    CornerSpotter,
    MouthCornerNet,
)
from train.spotter.ticks import positive_ticks, tick_cover, track_ticks
from train.torch_files import load_torch_file

AU12_DIRECTION = np.array([0.6, -0.8])   # the image-right corner; the left one mirrored


def along_au12(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """(..., 2) corner positions -> their mean position along AU12's pull (each corner
    up and outward), px."""
    mirror = AU12_DIRECTION * np.array([-1.0, 1.0])
    return (left @ mirror + right @ AU12_DIRECTION) / 2

CORNER_AUS = ("AU12", "AU15")
"""A micro-expression with one of these moves the lip corners: the head's positives."""


@dataclass
class CornerTicks:
    """One track of one scene at the tick rate: mouth crops, the planted corner movement
    along AU12 (px, 128 px face), the head's labels and weights."""

    name: str
    crops: np.ndarray      # uint8 (K, h, w)
    target: np.ndarray     # float32 (K,)
    label: np.ndarray      # float32 (K,)
    weight: np.ndarray     # float32 (K,)


def planted_along_au12(displacement: np.ndarray) -> float:
    """The two lip corners' mean planted movement along AU12 (up and out) from a control
    displacement ``(C, 2)``."""
    return float(along_au12(displacement[CONTROL_ROW[61]], displacement[CONTROL_ROW[291]]))


def corner_ticks(path: Path, scene=None, tick_ms: float = 40.0, macro_weight: float = 0.3
                 ) -> list[CornerTicks]:
    """The tracks of one cached scene with their targets (face 0 of ``scene``, by default
    the scene replanned from the job of the cache's name)."""
    from train.spotter.scenes import scene_of

    d = np.load(path)
    scene = scene if scene is not None else scene_of(path)
    fps = float(d["fps"])
    events = [e for e in scene.truth.events if e.face == 0]
    corner = np.asarray([frame_span_ns(e.onset, e.offset, e.fps) for e in events
                         if e.kind == "micro" and set(e.aus) & set(CORNER_AUS)], np.int64)
    other = np.asarray([frame_span_ns(e.onset, e.offset, e.fps) for e in events
                        if e.kind == "micro" and not set(e.aus) & set(CORNER_AUS)], np.int64)
    out = []
    for track, t, rows, tick_ns in track_ticks(d, tick_ms):
        frames = np.rint(d["pts"][rows] * fps / 1e9).astype(int)
        target = np.zeros(len(rows), np.float32)
        for k, f in enumerate(frames):
            disp = scene.control_displacement(int(f), 0, expressions=True, distractors=False)
            if disp is not None:
                target[k] = planted_along_au12(disp)
        half = tick_ns // 2
        label = positive_ticks(t, corner.reshape(-1, 2), half).astype(np.float32)
        weight = np.where(tick_cover(t, d["macro"], half) > 0, macro_weight, 1.0)
        weight[tick_cover(t, other.reshape(-1, 2), half) > 0] = 0.0
        weight[label > 0] = 1.0
        crops = d["faces"][rows][:, MOUTH_ROWS[0]:MOUTH_ROWS[1], MOUTH_COLS[0]:MOUTH_COLS[1]]
        out.append(CornerTicks(f"{path.stem}/{track}", np.ascontiguousarray(crops), target,
                               label, weight.astype(np.float32)))
    return out


def build_cache(dirs: list[Path], cache: Path, workers: int = 2) -> Path:
    """Targets of every cached scene under ``dirs``, saved as one ``.npz``."""
    paths = sorted(p for d in dirs for p in d.glob("*.npz"))
    tracks: list[CornerTicks] = []
    t0 = time.monotonic()
    with Pool(workers) as pool:
        for i, got in enumerate(pool.imap(corner_ticks, paths, chunksize=4)):
            tracks += got
            if (i + 1) % 100 == 0:
                print(f"targets: {i + 1}/{len(paths)} scenes, {time.monotonic() - t0:.0f} s",
                      flush=True)
    lengths = np.asarray([len(t.target) for t in tracks])
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, names=np.asarray([t.name for t in tracks]), lengths=lengths,
             crops=np.concatenate([t.crops for t in tracks]),
             target=np.concatenate([t.target for t in tracks]),
             label=np.concatenate([t.label for t in tracks]),
             weight=np.concatenate([t.weight for t in tracks]))
    return cache


def load_cache(cache: Path) -> list[CornerTicks]:
    d = np.load(cache)
    cuts = np.cumsum(d["lengths"])[:-1]
    parts = [np.split(d[k], cuts) for k in ("crops", "target", "label", "weight")]
    return [CornerTicks(str(n), *fields) for n, *fields in zip(d["names"], *parts, strict=True)]


def _crops(crops: np.ndarray, ks: np.ndarray, offsets: tuple[int, ...]) -> torch.Tensor:
    """``(B, len(offsets), h, w)`` float crops in [0, 1] for ticks ``ks`` (>= max offset)."""
    return torch.from_numpy(np.stack([crops[ks - o] for o in offsets], 1)
                            .astype(np.float32) / 255.0)


def fit_net(net: MouthCornerNet, tracks: list[CornerTicks], steps: int, seed: int,
            batch: int = 256, lr: float = 2e-3) -> None:
    """Regress each tick's target change over the net's span (module docstring, 2.)."""
    span = net.span
    rng = np.random.default_rng(seed)
    moved, still = [], []
    for j, t in enumerate(tracks):
        change = np.abs(t.target[span:] - t.target[:-span]) > 0.1
        ks = np.arange(span, len(t.target))
        moved.append(np.c_[np.full(change.sum(), j), ks[change]])
        still.append(np.c_[np.full((~change).sum(), j), ks[~change]])
    pos, neg = np.concatenate(moved), np.concatenate(still)
    print(f"movement net: {len(pos)} ticks with corner movement, {len(neg)} without",
          flush=True)
    opt = torch.optim.AdamW(net.parameters(), lr / 2, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps)
    net.train()
    t0 = time.monotonic()
    for step in range(steps):
        pick = np.concatenate([pos[rng.integers(0, len(pos), batch // 4)],
                               neg[rng.integers(0, len(neg), batch - batch // 4)]])
        xs, ys = [], []
        for j in np.unique(pick[:, 0]):
            ks = pick[pick[:, 0] == j, 1]
            xs.append(_crops(tracks[j].crops, ks, net.offsets))
            ys.append(torch.from_numpy(tracks[j].target[ks] - tracks[j].target[ks - span]))
        x, y = torch.cat(xs), torch.cat(ys)
        flip = torch.from_numpy(rng.random(len(x)) < 0.5)
        x[flip] = x[flip].flip(-1)
        loss = F.smooth_l1_loss(net.from_crops(x), y, beta=0.5)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 500 == 0 or step == steps - 1:
            print(f"movement net step {step}: loss {loss.item():.4f} "
                  f"({time.monotonic() - t0:.0f} s)", flush=True)
    net.eval()


def movement(net: MouthCornerNet, track: CornerTicks) -> np.ndarray:
    """The net's output for every tick of a track; before its span is filled the first
    face stands in for the missing ones, as the runtime pads a new stream's window."""
    span = net.span
    padded = np.concatenate([track.crops[:1].repeat(span, 0), track.crops])
    ks = np.arange(span, len(padded))
    out = []
    with torch.no_grad():
        for i in range(0, len(ks), 2048):
            out.append(net.from_crops(_crops(padded, ks[i:i + 2048], net.offsets)).numpy())
    return np.concatenate(out).astype(np.float32)


def stretches(m: np.ndarray, back: int, ahead: int) -> np.ndarray:
    """``(K, back + ahead + 1)``: for each tick, the movement from ``back`` ticks before to
    ``ahead`` after (zero-padded: what :meth:`CornerSpotter.step` holds at a stream's ends)."""
    padded = np.pad(m, (back, ahead))
    return np.lib.stride_tricks.sliding_window_view(padded, back + ahead + 1).copy()


def fit_head(corner: CornerSpotter, tracks: list[CornerTicks], steps: int, seed: int,
             pos_weight: float = 4.0, batch: int = 2048) -> None:
    """The head on the net's movement (module docstring, 3.)."""
    x = torch.from_numpy(np.concatenate(
        [stretches(movement(corner.net, t), corner.back, corner.ahead) for t in tracks]))
    y = torch.from_numpy(np.concatenate([t.label for t in tracks]))
    w = torch.from_numpy(np.concatenate([t.weight for t in tracks])) * (1 + (pos_weight - 1) * y)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(corner.head.parameters(), 3e-3)
    corner.head.train()
    for step in range(steps):
        i = torch.randint(0, len(x), (batch,), generator=gen)
        loss = F.binary_cross_entropy_with_logits(corner.score(x[i]), y[i], weight=w[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 1000 == 0 or step == steps - 1:
            print(f"head step {step}: loss {loss.item():.4f}", flush=True)
    corner.eval()


def train(dirs: list[Path], cache: Path, out: Path, net_steps: int, head_steps: int,
          seed: int, ahead: int) -> Path:
    """Targets (cached), the movement net, the head; writes ``out/corner.pt``."""
    torch.manual_seed(seed)
    if not cache.exists():
        build_cache(dirs, cache)
    tracks = load_cache(cache)
    net = MouthCornerNet()
    fit_net(net, tracks, net_steps, seed)
    corner = CornerSpotter(net, ahead=ahead)
    fit_head(corner, tracks, head_steps, seed)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "corner.pt"
    torch.save({"state_dict": corner.state_dict(),
                "config": {"back": corner.back, "ahead": corner.ahead,
                           "offsets": list(net.offsets), "scenes": [str(d) for d in dirs],
                           "net_steps": net_steps, "head_steps": head_steps, "seed": seed}},
               path)
    return path


def load_corner(path: Path) -> CornerSpotter:
    ckpt = load_torch_file(path)
    cfg = ckpt["config"]
    corner = CornerSpotter(MouthCornerNet(offsets=tuple(cfg["offsets"])), back=cfg["back"],
                           ahead=cfg["ahead"])
    corner.load_state_dict(ckpt["state_dict"])
    return corner.eval()


def fuse(corner_path: Path, members: list[Path], onnx_out: Path) -> Path:
    """The ensemble of ``members`` with the corner detector as one ONNX step."""
    from train.spotter.ensemble import load_ensemble
    from train.spotter.fit import export_onnx

    spotter, meta = load_ensemble(members)
    fused = CornerFusedSpotter(spotter, load_corner(corner_path)).eval()
    return export_onnx(fused, onnx_out, {**meta, "mestream.spotter.corner": str(corner_path)})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=Path, nargs="+",
                    default=[Path("data/spotter/canonical"), Path("data/spotter/canonical2")],
                    help="cached canonical scenes (train.spotter.canonical)")
    ap.add_argument("--cache", type=Path, default=Path("data/spotter/corner_targets.npz"))
    ap.add_argument("--out", type=Path, default=Path("runs/spotter_corner"))
    ap.add_argument("--net-steps", type=int, default=3000)
    ap.add_argument("--head-steps", type=int, default=3000)
    ap.add_argument("--ahead", type=int, default=10, help="= the spotter's delay (ticks)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fuse", type=Path, nargs="*", default=[],
                    help="spotter checkpoints to join with it (spotter_learned.pt)")
    a = ap.parse_args(argv)
    torch.set_num_threads(2)
    path = a.out / "corner.pt"
    if not path.exists():
        path = train(a.scenes, a.cache, a.out, a.net_steps, a.head_steps, a.seed, a.ahead)
    print(path)
    if a.fuse:
        print(fuse(path, a.fuse, a.out / "spotter_learned.onnx"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
