"""The ``mestream`` command line.

    mestream validate FILE                check a pipeline YAML (exit 2 on errors)
    mestream run FILE [--tail]            run it: one OS process per stage
    mestream stage NAME --config FILE     run one stage alone (multi-host set-ups)
    mestream subscribe ENDPOINT           print published events live
    mestream keys DIR [--name NAME]       make CURVE key pairs (security: in the YAML)
    mestream bench                        run the benchmarks, write BENCHMARKS.md
    mestream align preview VIDEO -o OUT   draw tracks, landmarks and aligned crops
    mestream synth video|dataset|preview  synthetic ME footage with ground truth
    mestream train RECIPE.yaml            train / evaluate a model (LOSO, UF1, UAR)
    mestream export CHECKPOINT --out M    a trained model to ONNX (FP32 or FP16)
    mestream engine build|info|bench M    TensorRT plans from ONNX, an engine's I/O, speed
    mestream demo [CONFIG]                synthetic cameras end to end, report vs truth
    mestream eval spotting --gt G --pred E  spotting F1 / FA per minute vs ground truth
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from pathlib import Path
from typing import Any

from mestream.record_line import record_line
from pipeline.config import PipelineConfig, check_paths, load_config
from pipeline.errors import ConfigError, command_exit

log = logging.getLogger("mestream")


def _load(path: str, overrides: list[str], check_files: bool = True) -> PipelineConfig:
    cfg = load_config(path, overrides)
    if check_files:
        check_paths(cfg, path)
    return cfg


def cmd_validate(args: argparse.Namespace) -> int:
    from pipeline.recognition.classifier_contract import check_classifier_file

    cfg = _load(args.file, args.set)
    # Open every classifier (ONNX on ONNX Runtime's CPU provider), as the stage will:
    # a file that is not a model, or a model of the wrong shape, fails here, not mid-run.
    errors, unopened = [], []
    for name, stage in cfg.stages.items():
        if stage.type != "classify":
            continue
        if stage.model.suffix != ".onnx":
            unopened.append(f"{args.file}: stages.{name}.model: {stage.model.name} not "
                            "opened (validate opens ONNX models; the stage checks this one "
                            "when it starts)")
        errors += [f"{args.file}: stages.{name}.model: {stage.model}: {problem}"
                   for problem in check_classifier_file(stage.model)]
    if errors:
        raise ConfigError(errors)
    for line in unopened:
        print(line)
    print(f"{args.file}: ok ({len(cfg.sources)} sources, stages: {' -> '.join(cfg.stages)})")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from pipeline.logs import configure_logging
    from pipeline.runtime.supervisor import Supervisor

    overrides = list(args.set)
    cfg = _load(args.file, overrides)
    publishers = [n for n, s in cfg.stages.items() if s.type == "publish"]
    if args.tail and publishers:
        # Hold the first frame until the tail has subscribed (no slow-joiner loss).
        name = publishers[0]
        overrides.append(f"stages.{name}.wait_subscribers="
                         f"{cfg.stages[name].wait_subscribers + 1}")
        cfg = _load(args.file, overrides)
    configure_logging(cfg.logging.level, cfg.logging.format, "supervisor")
    sup = Supervisor(cfg, Path(args.file).resolve(), overrides)
    tail = None
    if args.tail and publishers:
        endpoint = cfg.stages[publishers[0]].bind
        tail = threading.Thread(target=_tail, args=(endpoint, sorted(cfg.sources), args.json),
                                daemon=True)
        tail.start()
    code = sup.run()
    if tail is not None:
        tail.join(timeout=2.0)  # let the last records reach the screen
    return code


def _tail(endpoint: str, streams: list[str], as_json: bool) -> None:
    from pipeline.client import EventSubscriber

    with EventSubscriber(endpoint) as events:
        for record in events.until_end(streams):
            print(json.dumps(record) if as_json else record_line(record), flush=True)


SILENT_NOTICE_S = 5.0
"""After this long with no record at all, subscribe says what it is waiting for."""


class SubscribeLoop:
    """The records ``mestream subscribe`` shows, and when it stops: after ``--count``
    records; when the streams it follows have ended (``--stream``: those; otherwise
    every stream it has seen; ``--follow`` never stops there); after ``--timeout``
    seconds without a record. Each stop says why on stderr; the exit code is 1 when
    nothing arrived at all, else 0."""

    def __init__(self, events: Any, args: argparse.Namespace):
        self.events, self.args = events, args
        self.wanted = set(args.stream or [])
        self.seen: set[str] = set()
        self.ended: set[str] = set()
        self.count = 0
        self.reason = ""

    def __iter__(self):
        a = self.args
        idle = 0.0
        noticed = False
        while True:
            record = self.events.receive(1.0)
            if record is None:
                idle += 1.0
                if not self.count and not noticed and idle >= SILENT_NOTICE_S:
                    noticed = True
                    print(f"mestream subscribe: no record from {a.endpoint} yet; waiting "
                          "(is the pipeline running, and is this its publish bind?)",
                          file=sys.stderr, flush=True)
                if a.timeout is not None and idle >= a.timeout:
                    self.reason = f"no record for {a.timeout:g} s"
                    return
                continue
            idle = 0.0
            self.count += 1
            sid = str(record.get("stream", "?"))
            self.seen.add(sid)
            if record.get("type") == "end_of_stream":
                self.ended.add(sid)
            yield record
            if a.count and self.count >= a.count:
                self.reason = f"{self.count} records"
                return
            if not a.follow and self._all_ended():
                self.reason = f"stream{'s' if len(self.ended) > 1 else ''} " \
                              f"{', '.join(sorted(self.ended))} ended"
                return

    def _all_ended(self) -> bool:
        return self.wanted <= self.ended if self.wanted else self.seen <= self.ended

    def finish(self) -> int:
        if self.reason:
            print(f"mestream subscribe: {self.reason}; {self.count} records",
                  file=sys.stderr, flush=True)
        return 0 if self.count else 1


def cmd_subscribe(args: argparse.Namespace) -> int:
    from pipeline.client import EventSubscriber

    with EventSubscriber(args.endpoint, streams=args.stream or None,
                         from_seq=args.from_seq) as events:
        loop = SubscribeLoop(events, args)
        if args.json or not sys.stdout.isatty():
            for record in loop:
                print(json.dumps(record) if args.json else record_line(record), flush=True)
        else:
            _live_table(loop)
        return loop.finish()


def _live_table(records: Any) -> None:
    from rich.live import Live
    from rich.table import Table

    latest: dict[str, dict[str, Any]] = {}
    totals: dict[str, int] = {}

    def render() -> Table:
        table = Table(title="mestream events", expand=False)
        for col in ("stream", "records", "last type", "seq", "pts (ms)", "detail"):
            table.add_column(col)
        for sid in sorted(latest):
            r = latest[sid]
            detail = r.get("reason") or r.get("label") or r.get("note", "")
            table.add_row(sid, str(totals[sid]), r.get("type", "?"), str(r.get("seq", "")),
                          f"{r.get('pts_ns', 0) / 1e6:.1f}", str(detail))
        return table

    with Live(render(), refresh_per_second=8) as live:
        for record in records:
            sid = str(record.get("stream", "?"))
            latest[sid] = record
            totals[sid] = totals.get(sid, 0) + 1
            live.update(render())


def cmd_bench(args: argparse.Namespace) -> int:
    from bench.run import run_benchmarks

    grid = Path(args.grid_dir) if args.grid_dir else None
    only = [x.strip() for x in args.only.split(",") if x.strip()] if args.only else None
    try:
        return run_benchmarks(Path(args.out), quick=args.quick, grid_dir=grid, only=only)
    except ValueError as exc:
        print(f"mestream bench: {exc}", file=sys.stderr)
        return 2


def cmd_align_preview(args: argparse.Namespace) -> int:
    from pipeline.faces.preview import write_preview

    if not Path(args.video).exists():
        print(f"error: {args.video}: no such file", file=sys.stderr)
        return 2
    n = write_preview(args.video, args.out, backend=args.backend, max_faces=args.max_faces,
                      size=args.size, frames=args.frames)
    print(f"{args.out}: {n} frames rendered")
    return 0


def cmd_view(args: argparse.Namespace) -> int:
    import os

    from pipeline.view.server import serve

    cfg = _load(args.file, args.set)
    if cfg.view is None:
        raise ConfigError([f"{args.file}: view: the pipeline sends no previews; add a "
                           "view: section (e.g. `view: {fps: 5}`) so its align workers "
                           "send them to `mestream view`"])
    publish = [st for st in cfg.stages.values() if st.type == "publish"]
    if not publish:
        raise ConfigError([f"{args.file}: stages: no publish stage, so no records to "
                           "show (the view subscribes to it)"])
    quiet = [n for n, st in cfg.stages.items() if st.type == "spot" and not st.emit_tracks]
    for name in quiet:
        print(f"note: stages.{name}.emit_tracks is off: the page shows no score strip "
              "(set it to true for per-frame scores)", file=sys.stderr)
    token = args.token or os.environ.get("MESTREAM_VIEW_TOKEN") or None
    gst_out: dict[str, str] = {}
    for item in args.gst_out:
        sid, sep, desc = item.partition("=")
        if not sep or sid not in cfg.sources or not desc.strip():
            print(f"error: --gst-out {item!r}: want STREAM=PIPELINE with STREAM one of "
                  f"{', '.join(sorted(cfg.sources))}", file=sys.stderr)
            return 2
        gst_out[sid] = desc
    if args.no_page and not gst_out:
        print("error: --no-page without --gst-out leaves nothing to do", file=sys.stderr)
        return 2
    try:
        return serve(cfg.view.endpoint, publish[0].bind.replace("*", "127.0.0.1"),
                     args.host, args.port, token, title=cfg.name, gst_out=gst_out,
                     page=not args.no_page, fps=cfg.view.fps)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def cmd_stage(args: argparse.Namespace) -> int:
    from pipeline.runtime.stage_main import run_stage

    return run_stage(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from mestream.demo import run_demo

    return run_demo(Path(args.config), Path(args.out) if args.out else None,
                    video=not args.no_video, overrides=args.set)


def build_parser(extras: bool = True) -> argparse.ArgumentParser:
    """The whole command line; ``extras=False`` leaves out the commands of other
    packages (synth, eval, engines, train), whose imports cost a restarted stage
    process about a second (measured: docs/operations.md)."""
    p = argparse.ArgumentParser(prog="mestream", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--verbose", action="store_true", help="show native libraries' "
                   "info lines too (MediaPipe, TF Lite), which are dropped by default")
    sub = p.add_subparsers(dest="command", required=True)

    def add_set(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                        help="override a config value, e.g. stages.publish.bind=tcp://*:6000")

    v = sub.add_parser("validate", help="check a pipeline YAML")
    v.add_argument("file")
    add_set(v)
    v.set_defaults(func=cmd_validate)

    r = sub.add_parser("run", help="run a pipeline, one process per stage")
    r.add_argument("file")
    r.add_argument("--tail", action="store_true", help="also print what is published")
    r.add_argument("--json", action="store_true", help="with --tail: JSON lines")
    add_set(r)
    r.set_defaults(func=cmd_run)

    w = sub.add_parser("view", help="serve a live web page of a running pipeline "
                       "(its YAML needs a view: section)")
    w.add_argument("file", help="the pipeline YAML (view: and the publish stage's bind)")
    w.add_argument("--host", default="127.0.0.1", help="address to serve on (default "
                   "loopback; any other needs --token)")
    w.add_argument("--port", type=int, default=8080, help="HTTP port (default 8080)")
    w.add_argument("--token", default=None, help="required of every viewer "
                   "(?token=... or Authorization: Bearer); default $MESTREAM_VIEW_TOKEN")
    w.add_argument("--gst-out", action="append", default=[], metavar="STREAM=PIPELINE",
                   help="also push STREAM's annotated pictures into a GStreamer pipeline "
                   "(after an appsrc), e.g. 'cam-1=videoconvert ! vp8enc ! webmmux ! "
                   "filesink location=cam-1.webm' (repeatable)")
    w.add_argument("--no-page", action="store_true", help="no web page: only the "
                   "--gst-out sinks, exit when their streams end")
    add_set(w)
    w.set_defaults(func=cmd_view)

    from pipeline.runtime.stage_main import add_stage_arguments

    s = sub.add_parser("stage", help="run one stage of a pipeline on its own")
    add_stage_arguments(s)
    s.set_defaults(func=cmd_stage)

    c = sub.add_parser("subscribe", help="print a pipeline's events live")
    c.add_argument("endpoint", help="e.g. tcp://127.0.0.1:5560")
    c.add_argument("--stream", action="append", help="only this stream (repeatable)")
    c.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    c.add_argument("--count", type=int, default=None, help="exit after N records")
    c.add_argument("--from-seq", type=int, default=None, metavar="N",
                   help="replay the event log from event_seq N first (0: all it holds)")
    c.add_argument("--follow", action="store_true", help="keep running after the streams "
                   "end (the next run of the pipeline, too); default: exit when they end")
    c.add_argument("--timeout", type=float, default=None,
                   help="exit after this many seconds without a record")
    c.set_defaults(func=cmd_subscribe)

    b = sub.add_parser("bench", help="run the benchmarks and write BENCHMARKS.md")
    b.add_argument("--out", default="BENCHMARKS.md")
    b.add_argument("--quick", action="store_true", help="fewer frames (a smoke run)")
    b.add_argument("--only", default=None, metavar="SECTIONS",
                   help="comma-separated sections (default: all but the long fuzz and "
                   "soak jobs, which run only when named here)")
    b.add_argument("--grid-dir", default=None, help="a folder of GRID .mpg clips for the "
                   "talking-face jitter (default: the bundled clip)")
    b.set_defaults(func=cmd_bench)

    a = sub.add_parser("align", help="face alignment tools")
    asub = a.add_subparsers(dest="align_command", required=True)
    ap = asub.add_parser("preview", help="draw tracks, landmarks and the aligned crops")
    ap.add_argument("video", help="a video file or an image")
    ap.add_argument("-o", "--out", default="preview.mp4", help=".mp4 (every frame) or "
                    ".png (a contact sheet of 4 frames)")
    ap.add_argument("--backend", choices=["mediapipe", "retinaface"], default="mediapipe")
    ap.add_argument("--max-faces", type=int, default=1)
    ap.add_argument("--size", type=int, default=128, help="aligned face side in px")
    ap.add_argument("--frames", type=int, default=None, help="stop after N frames")
    ap.set_defaults(func=cmd_align_preview)

    d = sub.add_parser("demo", help="run synthetic cameras end to end and report against "
                       "the ground truth")
    d.add_argument("config", nargs="?", default="configs/demo.yaml")
    d.add_argument("--out", default=None, help="report folder (default runs/demo-<time>)")
    d.add_argument("--no-video", action="store_true", help="skip the annotated mp4s")
    add_set(d)
    d.set_defaults(func=cmd_demo)

    from pipeline.runtime.keys import add_parser as add_keys

    add_keys(sub)
    if not extras:
        return p
    from pipeline.spotting.commands import add_parser as add_eval
    from pipeline.synth.commands import add_parser as add_synth

    add_synth(sub)
    add_eval(sub)
    # The engines' and training's own commands. Neither module imports torch until its
    # command runs, so `mestream run` works (and loads no torch) where torch is absent.
    from engines.commands import add_parser as add_engine

    add_engine(sub)
    try:
        from train.commands import add_parser as add_train
    except ImportError as exc:  # a runtime-only install without the train extra
        log.debug("training commands unavailable: %s", exc)
    else:
        add_train(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    # A stage process (started, and restarted after a crash, by the supervisor) needs
    # only its own subcommand: skip importing the others.
    first = (sys.argv[1:] if argv is None else argv)[:1]
    args = build_parser(extras=first != ["stage"]).parse_args(argv)
    if args.verbose or args.command == "stage":
        return command_exit(lambda: args.func(args))  # a stage's stderr: its supervisor's
    from pipeline.native_log import native_noise_dropped

    # MediaPipe / TF Lite write info lines straight to fd 2 (no switch turns them off):
    # dropped unless --verbose (pipeline/native_log.py).
    with native_noise_dropped():
        return command_exit(lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
