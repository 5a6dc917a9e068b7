"""ONNX -> TensorRT plan: one optimisation profile over the batch axis, FP16 the way the
installed TensorRT wants it, and a timing cache kept between builds.

FP16 differs by version (see ../shared/docs/pipeline.md, section 2):

- TensorRT 11 removed ``BuilderFlag.FP16``; every network is strongly typed, so an FP16
  engine needs an FP16 graph (``mestream export --precision fp16``).
- TensorRT 10 builds FP16 from an FP32 graph with ``BuilderFlag.FP16``; an FP16 graph is
  built strongly typed, as on 11.

Example (the decision alone; building needs TensorRT and a GPU):
    >>> precision_path(10, "fp16", "fp32")
    PrecisionPath(strongly_typed=False, fp16_flag=True)
    >>> precision_path(11, "fp16", "fp16")
    PrecisionPath(strongly_typed=True, fp16_flag=False)
    >>> batch_profile({"face": (None, 1, 18, 32, 32)}, 1, 16, 64)["face"].max
    (64, 1, 18, 32, 32)
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from engines import tensorrt_import
from engines.onnx_graph import read_onnx_graph

log = logging.getLogger("mestream.engines")

PLAN_SUFFIXES = (".plan", ".engine")
DEFAULT_WORKSPACE_MB = 2048


@dataclass(frozen=True)
class PrecisionPath:
    """How the network and builder are set up for a precision."""

    strongly_typed: bool    # the graph's own dtypes decide (TensorRT 11 always)
    fp16_flag: bool         # BuilderFlag.FP16 (TensorRT 10, FP32 graph)


@dataclass(frozen=True)
class ProfileShapes:
    """One input's shapes in the optimisation profile."""

    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]


def precision_path(trt_major: int, precision: str, graph_precision: str) -> PrecisionPath:
    """How to get an engine of ``precision`` from a graph of ``graph_precision`` ("fp32",
    "fp16" or "mixed") with TensorRT ``trt_major``; ``ValueError`` when it cannot."""
    if precision not in ("fp32", "fp16"):
        raise ValueError(f"precision must be fp16 or fp32, got {precision!r}")
    if trt_major < 10:
        raise ValueError(f"TensorRT {trt_major}.x is too old: mestream needs 10 or newer "
                         "(the named-tensor API, execute_async_v3)")
    if precision == "fp32":
        if graph_precision != "fp32":
            raise ValueError(f"the ONNX graph is {graph_precision.upper()}, so the engine "
                             "would not be FP32: export an FP32 graph (mestream export "
                             "--precision fp32) or build with --precision fp16")
        return PrecisionPath(strongly_typed=trt_major >= 11, fp16_flag=False)
    if graph_precision != "fp32":
        return PrecisionPath(strongly_typed=True, fp16_flag=False)
    if trt_major >= 11:
        raise ValueError(
            f"TensorRT {trt_major} has no FP16 builder flag (networks are strongly typed), "
            "so an FP16 engine needs an FP16 ONNX graph and this one is FP32: run "
            "`mestream export CHECKPOINT --precision fp16 --out MODEL_fp16.onnx` and build "
            "from that (or build with --precision fp32)")
    return PrecisionPath(strongly_typed=False, fp16_flag=True)


def batch_profile(inputs: dict[str, tuple[int | None, ...]], min_batch: int, opt_batch: int,
                  max_batch: int) -> dict[str, ProfileShapes]:
    """min/opt/max shapes for every input: the batch axis varies, the rest is fixed."""
    if not 1 <= min_batch <= opt_batch <= max_batch:
        raise ValueError(f"need 1 <= min_batch <= opt_batch <= max_batch, got "
                         f"{min_batch}/{opt_batch}/{max_batch}")
    profile = {}
    for name, shape in inputs.items():
        if not shape or shape[0] is not None:
            raise ValueError(f"input {name!r} has shape {shape}: its batch axis (0) is not "
                             "dynamic; export with a dynamic batch (mestream export does)")
        dynamic = [i for i, d in enumerate(shape[1:], start=1) if d is None]
        if dynamic:
            raise ValueError(f"input {name!r} has dynamic axes {dynamic} besides the batch; "
                             "only the batch may vary (export with fixed frames and size)")
        rest = tuple(int(d) for d in shape[1:] if d is not None)
        profile[name] = ProfileShapes((min_batch, *rest), (opt_batch, *rest),
                                      (max_batch, *rest))
    return profile


def plan_path_for(onnx_path: Path, out: Path, precision: str, min_batch: int,
                  opt_batch: int, max_batch: int) -> Path:
    """``out`` itself when it names a plan file, else a file named after the model in
    the directory ``out``."""
    if out.suffix in PLAN_SUFFIXES:
        return out
    return out / f"{onnx_path.stem}-{precision}-b{min_batch}_{opt_batch}_{max_batch}.plan"


def build_engine(onnx_path: str | Path, out_dir_or_plan: str | Path, precision: str = "fp16",
                 min_batch: int = 1, opt_batch: int = 16, max_batch: int = 64,
                 workspace_mb: int = DEFAULT_WORKSPACE_MB,
                 timing_cache: str | Path | None = None) -> Path:
    """Build a TensorRT plan from ``onnx_path``; returns the plan's path.

    Args:
        out_dir_or_plan: a ``.plan``/``.engine`` path, or a directory for one.
        precision: "fp16" or "fp32" (see the module docstring for what FP16 needs).
        min_batch / opt_batch / max_batch: the profile; TensorRT tunes for ``opt_batch``.
        workspace_mb: the builder's scratch memory limit.
        timing_cache: read before and written after the build (default: beside the
            plan, ``NAME.timing.cache``); it makes rebuilds on this GPU much faster.

    Raises:
        BackendUnavailable: TensorRT is not installed.
        ValueError: the graph cannot give the requested precision or profile.
        RuntimeError: TensorRT failed to parse or build (its messages are included).
    """
    trt = tensorrt_import.import_tensorrt()
    major = tensorrt_import.tensorrt_major(trt)
    onnx_path = Path(onnx_path)
    graph = read_onnx_graph(onnx_path)
    path = precision_path(major, precision, graph.float_precision)
    profile = batch_profile(graph.inputs, min_batch, opt_batch, max_batch)
    plan = plan_path_for(onnx_path, Path(out_dir_or_plan), precision, min_batch, opt_batch,
                         max_batch)
    cache_file = Path(timing_cache) if timing_cache else plan.with_suffix(".timing.cache")

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    typed_flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    if path.strongly_typed and typed_flag is not None and major < 11:
        # On 11 strong typing is always on and the flag is deprecated (ignored).
        flags |= 1 << int(typed_flag)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise RuntimeError(f"TensorRT could not parse {onnx_path}: " + "; ".join(errors))

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    if path.fp16_flag:
        config.set_flag(trt.BuilderFlag.FP16)
    trt_profile = builder.create_optimization_profile()
    for name, shapes in profile.items():
        trt_profile.set_shape(name, shapes.min, shapes.opt, shapes.max)
    config.add_optimization_profile(trt_profile)
    old_cache = cache_file.read_bytes() if cache_file.is_file() else b""
    # ignore_mismatch=False: a cache from another GPU or TensorRT is refused, not used.
    config.set_timing_cache(config.create_timing_cache(old_cache), False)

    log.info("building a TensorRT %s %s engine from %s (batch %d/%d/%d); this can take "
             "minutes", trt.__version__, precision, onnx_path.name, min_batch, opt_batch,
             max_batch)
    started = time.monotonic()
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path} (its "
                           "messages are in the log above)")
    plan.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(plan, memoryview(serialized))
    _write_atomically(cache_file, memoryview(config.get_timing_cache().serialize()))
    log.info("built %s in %.1f s", plan, time.monotonic() - started)
    return plan


def _write_atomically(path: Path, data: bytes | memoryview) -> None:
    """Readers never see half a plan: write a temporary file, then rename it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
