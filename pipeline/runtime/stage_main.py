"""One stage process: what the supervisor starts for each stage replica
(``python -m pipeline.runtime.stage_main NAME --config FILE --replica R``) and what
``mestream stage`` runs by hand on another host. It imports only the runtime and the
stage's own module, so a (re)started stage loads no training code, no torch and no
command-line tools.
"""

from __future__ import annotations

import argparse
import os
import sys

from pipeline.config import PipelineConfig, load_config
from pipeline.errors import ConfigError, command_exit
from pipeline.runtime.control import EXIT_NOT_RETRYABLE

OPENCV_STAGES = frozenset({"capture", "align", "spot"})


def stage_of_argv(argv: list[str]) -> tuple[str, int] | None:
    """(stage, replica) of a stage process's command line: ``python -m
    pipeline.runtime.stage_main NAME ...`` (what the supervisor starts) or ``mestream
    stage NAME ...`` (by hand); None for any other process. Monitors (the soak and load
    benchmarks, the tests) find stage processes with it.

    Example:
        >>> stage_of_argv(["python", "-m", "pipeline.runtime.stage_main", "align",
        ...                "--config", "p.yaml", "--replica", "1"])
        ('align', 1)
        >>> stage_of_argv(["mestream", "stage", "publish", "--config", "p.yaml"])
        ('publish', 0)
        >>> stage_of_argv(["python", "-m", "mestream.cli", "run", "p.yaml"]) is None
        True
    """
    for marker in (__name__, "stage"):
        if marker in argv[:-1]:
            i = argv.index(marker)
            replica = argv[argv.index("--replica") + 1] if "--replica" in argv[:-1] else "0"
            return argv[i + 1], int(replica)
    return None


def add_stage_arguments(p: argparse.ArgumentParser) -> None:
    """The stage command's arguments (shared by ``mestream stage`` and ``-m`` here)."""
    p.add_argument("name")
    p.add_argument("--config", required=True)
    p.add_argument("--replica", type=int, default=0)
    p.add_argument("--control", default=None, help=argparse.SUPPRESS)
    p.add_argument("--metrics-port", type=int, default=None)
    p.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                   help="override a config value, e.g. stages.publish.bind=tcp://*:6000")


def fatal_reason(exc: BaseException, cfg: PipelineConfig, stage: str,
                 replica: int = 0) -> str | None:
    """Why ``exc`` would only happen again on a restart, or None for a crash."""
    import errno

    import zmq

    if isinstance(exc, zmq.ZMQError) and exc.errno in (
            errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES, errno.EINVAL):
        s = cfg.stages[stage]
        where = f"stages.{stage}.bind ({s.bind}) or its replay port" \
            if s.type == "publish" else \
            f"stages.{stage}.endpoint ({cfg.input_endpoint(stage, replica)})"
        return (f"cannot bind: {exc.strerror}; check {where}, or whether another run "
                "of this pipeline is still running")
    if isinstance(exc, ConfigError):
        return str(exc)
    if isinstance(exc, FileNotFoundError):
        return f"{exc.filename}: no such file ({exc.strerror})"
    if isinstance(exc, ValueError) and str(exc).startswith(f"stages.{stage}."):
        return str(exc)  # a stage's own check of its settings or model, with its path
    return None


def run_stage(args: argparse.Namespace) -> int:
    """Run the stage ``args.name`` (replica ``args.replica``) of ``args.config`` until its
    streams end; the exit code tells the supervisor whether a restart can help."""
    from pipeline.logs import configure_logging
    from pipeline.runtime.runner import StageRunner, die_with_parent
    from pipeline.stages import stage_class

    cfg = load_config(args.config, args.set)
    if args.name not in cfg.stages:
        raise ConfigError([f"{args.config}: stages: no stage {args.name!r}; "
                           f"expected one of {list(cfg.stages)}"])
    if not 0 <= args.replica < cfg.replicas(args.name):
        raise ConfigError([f"{args.config}: stages.{args.name}.replicas: replica "
                           f"{args.replica} out of range"])
    configure_logging(cfg.logging.level, cfg.logging.format, f"{args.name}.{args.replica}")
    parent = os.environ.get("MESTREAM_PARENT_PID")
    if parent:
        die_with_parent(int(parent))
    settings = cfg.stages[args.name]
    if settings.type in OPENCV_STAGES and settings.opencv_threads:
        import cv2  # its own pool would put one thread a core in every stage process

        cv2.setNumThreads(settings.opencv_threads)
    factory = stage_class(settings.type)
    runner = StageRunner(cfg, args.name, args.replica, factory, control=args.control)
    if args.metrics_port:
        from prometheus_client import start_http_server
        from prometheus_client.registry import CollectorRegistry

        from pipeline.runtime.metrics import SnapshotCollector

        registry = CollectorRegistry()
        registry.register(SnapshotCollector(lambda: [runner.metrics.snapshot()]))
        start_http_server(args.metrics_port, addr="127.0.0.1", registry=registry)
    try:
        return runner.run()
    except Exception as exc:  # noqa: BLE001  (sorted into retryable or not below)
        reason = fatal_reason(exc, cfg, args.name, args.replica)
        if reason is None:
            raise  # a crash: the supervisor restarts the stage
        # Restarting cannot help (a port in use, a missing file, a bad model): one
        # line naming the YAML path, and the exit code that tells the supervisor so.
        print(f"mestream stage {args.name}.{args.replica}: {reason}", file=sys.stderr)
        return EXIT_NOT_RETRYABLE


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="mestream stage", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_stage_arguments(p)
    args = p.parse_args(argv)
    return command_exit(lambda: run_stage(args))


if __name__ == "__main__":
    sys.exit(main())
