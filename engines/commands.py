"""``mestream engine build|info|bench``: TensorRT plans from ONNX files, what an engine
takes and gives, and its throughput per batch size.

    mestream engine build MODEL.onnx --precision fp16 --min-batch 1 --opt-batch 16 \\
        --max-batch 64 --out engines/NAME.plan [--timing-cache F]
    mestream engine build MODEL.onnx --cache-dir ~/.cache/mestream/engines
    mestream engine info ARTIFACT                 (.onnx, .pt2 or .plan)
    mestream engine bench MODEL --backend onnxruntime --batch 1,2,4,8,16,32,64
    mestream engine bench MODEL.pt2 --backend torch --device cuda --precision fp16 \\
        --cuda-graphs --batch 1,16,64

Until ``mestream.cli`` registers :func:`add_parser`, run ``python -m engines.commands
engine ...``. Exit codes: 0 ok, 2 when a backend is missing (the message says what to
install) or the model cannot be built as asked. Importing this module imports neither
torch nor TensorRT.

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser(prog="mestream")
    >>> add_parser(parser.add_subparsers(dest="command"))
    >>> args = parser.parse_args(["engine", "build", "m.onnx", "--max-batch", "32"])
    >>> args.precision, args.min_batch, args.opt_batch, args.max_batch
    ('fp16', 1, 16, 32)
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from engines import tensorrt_import
from engines.engine import InferenceEngine
from engines.errors import BackendUnavailable, EngineInputError, EngineLoadError

BY_SUFFIX = {".onnx": "onnxruntime", ".pt2": "torch", ".plan": "tensorrt",
             ".engine": "tensorrt"}


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def cmd_build(args: argparse.Namespace) -> int:
    from engines.build import build_engine
    from engines.cache import BatchProfile, EngineCache
    from engines.device import first_gpu

    try:
        trt = tensorrt_import.import_tensorrt(tensorrt_import.BUILD_INSTEAD)
    except BackendUnavailable as exc:
        return _fail(str(exc))
    onnx = Path(args.model)
    if not onnx.is_file():
        return _fail(f"{onnx}: no such ONNX file")
    try:
        if args.cache_dir:
            gpu = first_gpu()
            if gpu is None:
                return _fail("no NVIDIA GPU found (nvidia-smi): TensorRT builds for the GPU "
                             "it runs on")
            options = {"workspace_mb": args.workspace_mb} if args.workspace_mb else {}
            plan = EngineCache(args.cache_dir).get_or_build(
                onnx, gpu, str(trt.__version__), args.precision,
                BatchProfile(args.min_batch, args.opt_batch, args.max_batch), **options)
        else:
            out = Path(args.out) if args.out else onnx.parent
            extra = {"workspace_mb": args.workspace_mb} if args.workspace_mb else {}
            plan = build_engine(onnx, out, precision=args.precision,
                                min_batch=args.min_batch, opt_batch=args.opt_batch,
                                max_batch=args.max_batch, timing_cache=args.timing_cache,
                                **extra)
    except (BackendUnavailable, ValueError) as exc:
        return _fail(str(exc))
    print(f"{plan}: TensorRT {trt.__version__} {args.precision}, batch "
          f"{args.min_batch}/{args.opt_batch}/{args.max_batch}")
    return 0


def _open(model: str, backend: str | None, precision: str | None = None,
          device: str | None = None, cuda_graphs: bool = False) -> InferenceEngine:
    from engines.auto import open_engine

    backend = backend or BY_SUFFIX.get(Path(model).suffix, "auto")
    return open_engine(model, backend, precision=precision, device=device,
                       cuda_graphs=cuda_graphs)


def cmd_info(args: argparse.Namespace) -> int:
    try:
        engine = _open(args.artifact, args.backend)
    except (BackendUnavailable, EngineLoadError, ValueError, FileNotFoundError) as exc:
        return _fail(str(exc))
    try:
        print(f"backend: {engine.backend}")
        print(f"precision: {engine.precision}")
        print(f"device: {engine.device}")
        print(f"max batch: {'any' if engine.max_batch is None else engine.max_batch}")
        print("inputs:")
        for spec in engine.inputs.values():
            print(f"  {spec}")
        print("outputs:")
        for spec in engine.outputs.values():
            print(f"  {spec}")
        print("metadata:" + ("" if engine.metadata else " (none)"))
        for key, value in sorted(engine.metadata.items()):
            print(f"  {key}: {value}")
    finally:
        engine.close()
    return 0


def _batches(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected e.g. 1,2,4,8, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"batch sizes must be >= 1, got {text!r}")
    return sizes


def cmd_bench(args: argparse.Namespace) -> int:
    from engines.benchmark import bench_engine, format_rows

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        engine = _open(args.model, None if args.backend == "auto" else args.backend,
                       args.precision, args.device, args.cuda_graphs)
    except (BackendUnavailable, EngineLoadError, ValueError, FileNotFoundError) as exc:
        return _fail(str(exc))
    try:
        rows = bench_engine(engine, args.batch, repeats=args.repeats, warmup=args.warmup)
    except EngineInputError as exc:
        return _fail(str(exc))
    finally:
        engine.close()
    print(json.dumps(rows, indent=1) if args.json else format_rows(rows))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``engine build|info|bench`` to ``mestream``'s subcommands."""
    e = sub.add_parser("engine", help="TensorRT engines and backend info/benchmarks")
    esub = e.add_subparsers(dest="engine_command", required=True)

    b = esub.add_parser("build", help="build a TensorRT plan from an ONNX file "
                        "(needs TensorRT and a GPU)")
    b.add_argument("model", help="MODEL.onnx (mestream export)")
    b.add_argument("--precision", choices=["fp16", "fp32"], default="fp16",
                   help="fp16 on TensorRT 11 needs an FP16 graph (export --precision fp16)")
    b.add_argument("--min-batch", type=int, default=1)
    b.add_argument("--opt-batch", type=int, default=16)
    b.add_argument("--max-batch", type=int, default=64)
    where = b.add_mutually_exclusive_group()
    where.add_argument("--out", default=None, help="the .plan file or a directory (default: "
                       "beside the ONNX file)")
    where.add_argument("--cache-dir", default=None, help="build into this engine cache "
                       "(keyed by model, TensorRT, GPU, precision, batch profile)")
    b.add_argument("--timing-cache", default=None, help="timing cache file (default: "
                   "beside the plan)")
    b.add_argument("--workspace-mb", type=int, default=None)
    b.set_defaults(func=cmd_build)

    i = esub.add_parser("info", help="backend, precision, inputs/outputs and metadata")
    i.add_argument("artifact", help=".onnx, .pt2 or .plan")
    i.add_argument("--backend", choices=["auto", "tensorrt", "torch", "onnxruntime"],
                   default=None, help="default: by file type (.onnx: onnxruntime)")
    i.set_defaults(func=cmd_info)

    r = esub.add_parser("bench", help="clips/s and ms per batch for batch sizes 1..64")
    r.add_argument("model", help=".onnx, .pt2 or .plan")
    r.add_argument("--backend", choices=["auto", "tensorrt", "torch", "onnxruntime"],
                   default="auto")
    r.add_argument("--batch", type=_batches, default=[1, 2, 4, 8, 16, 32, 64],
                   help="comma-separated batch sizes (default 1,2,4,8,16,32,64)")
    r.add_argument("--repeats", type=int, default=20)
    r.add_argument("--warmup", type=int, default=3)
    r.add_argument("--precision", choices=["fp16", "fp32"], default=None)
    r.add_argument("--device", default=None, help="torch backend: cpu, cuda or cuda:N "
                   "(default: cuda when auto picks torch on a GPU)")
    r.add_argument("--cuda-graphs", action="store_true", help="torch on CUDA: replay "
                   "CUDA graphs per batch size")
    r.add_argument("--json", action="store_true", help="rows as JSON")
    r.set_defaults(func=cmd_bench)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mestream")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
