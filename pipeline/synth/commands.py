"""``mestream synth ...``: synthetic micro-expression footage from the command line.

    mestream synth video --seconds 20 --fps 30 --out x.mp4      # + x.json, x.csv
    mestream synth dataset --layout casme2 --out data/          # official layout
    mestream synth preview --out events.png                     # one strip per event

Everything written is synthetic (action-unit-like deformations added to real faces) and
says so: the ground truth's ``note`` and the datasets' ``MESTREAM_SYNTHETIC.txt``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), transient=False)


def _spec(args: argparse.Namespace, seconds: float | None):
    from pipeline.synth.distractors import DistractorSpec
    from pipeline.synth.scene import SceneSpec

    return SceneSpec(seed=args.seed, fps=args.fps, width=args.width, height=args.height,
                     seconds=seconds, faces=args.faces or None,
                     faces_per_scene=args.faces_per_scene, label_set=args.label_set,
                     events_per_minute=args.events_per_minute,
                     micro_fraction=args.micro_fraction, stream=args.stream,
                     distractors=DistractorSpec(noise_sigma=args.noise,
                                                jpeg_quality=args.jpeg_quality))


def cmd_video(args: argparse.Namespace) -> int:
    import cv2

    from pipeline.synth.scene import SyntheticScene

    spec = _spec(args, args.seconds)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    scene = SyntheticScene(spec)
    total = spec.total_frames or 0
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), spec.fps,
                             (spec.width, spec.height))
    if not writer.isOpened():
        raise SystemExit(f"error: cannot write {out}")
    try:
        with _progress() as bar:
            task = bar.add_task(f"rendering {out.name}", total=total)
            for image, _ in scene.frames():
                writer.write(image)
                bar.advance(task)
    finally:
        writer.release()
    js, cs = scene.truth.write(out)
    micro = sum(e.kind == "micro" for e in scene.truth.events)
    print(f"{out}: {total} frames, {len(scene.truth.events)} expressions ({micro} micro), "
          f"{len(scene.truth.distractors)} distractors; ground truth {js.name}, {cs.name}")
    return 0


def cmd_dataset(args: argparse.Namespace) -> int:
    from pipeline.synth.dataset import make_dataset

    with _progress() as bar:
        task = bar.add_task(f"{args.layout} frames rendered", total=None)

        def report(done: int, todo: int) -> None:
            bar.update(task, completed=done, total=todo)

        root = make_dataset(args.layout, Path(args.out), args.faces or None,
                            clips_per_subject=args.clips_per_subject, seed=args.seed,
                            width=args.width, height=args.height, fps=args.fps,
                            seconds=args.seconds, noise_sigma=args.noise, progress=report)
    print(f"{root}: synthetic {args.layout} dataset written")
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    from pipeline.synth.preview import write_preview
    from pipeline.synth.scene import SyntheticScene

    scene = SyntheticScene(_spec(args, args.seconds))
    path = write_preview(scene, Path(args.out), max_events=args.max_events)
    print(f"{path}: {min(len(scene.truth.events), args.max_events)} events "
          "(neutral, onset, apex, offset; |apex - neutral| and |added| magnified)")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("synth", help="synthetic micro-expression footage with ground truth")
    ssub = s.add_subparsers(dest="synth_command", required=True)

    def scene_args(p: argparse.ArgumentParser, seconds: float, fps: float) -> None:
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--seconds", type=float, default=seconds)
        p.add_argument("--fps", type=float, default=fps)
        p.add_argument("--width", type=int, default=640)
        p.add_argument("--height", type=int, default=480)
        p.add_argument("--faces", nargs="*", default=None, help="base face images, videos or "
                       "folders, one subject each (default: the bundled astronaut and GRID "
                       "clip)")
        p.add_argument("--faces-per-scene", type=int, default=1)
        p.add_argument("--label-set", choices=["megc3", "casme_sq3", "casme2"],
                       default="megc3")
        p.add_argument("--events-per-minute", type=float, default=12.0)
        p.add_argument("--micro-fraction", type=float, default=0.7)
        p.add_argument("--noise", type=float, default=2.0, help="sensor noise sigma")
        p.add_argument("--jpeg-quality", type=int, default=None)
        p.add_argument("--stream", default="synth0")

    v = ssub.add_parser("video", help="write an mp4 and its ground truth (JSON, CSV)")
    scene_args(v, 20.0, 30.0)
    v.add_argument("--out", required=True)
    v.set_defaults(func=cmd_video)

    p = ssub.add_parser("preview", help="a PNG strip per expression event")
    scene_args(p, 30.0, 30.0)
    p.add_argument("--out", default="synth_preview.png")
    p.add_argument("--max-events", type=int, default=8)
    p.set_defaults(func=cmd_preview)

    d = ssub.add_parser("dataset", help="a dataset in an ME dataset's official layout")
    d.add_argument("--layout", required=True,
                   choices=["casme2", "smic", "casme_sq", "samm", "samm_lv"])
    d.add_argument("--out", required=True, help="folder to create the dataset in")
    d.add_argument("--faces", nargs="*", default=None)
    d.add_argument("--clips-per-subject", type=int, default=6)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--width", type=int, default=320)
    d.add_argument("--height", type=int, default=240)
    d.add_argument("--fps", type=float, default=None, help="default: the dataset's own")
    d.add_argument("--seconds", type=float, default=10.0, help="long-video layouts")
    d.add_argument("--noise", type=float, default=2.0)
    d.set_defaults(func=cmd_dataset)
