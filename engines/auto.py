"""Opening a model on the best backend this machine has, and saying which and why.

``backend="auto"`` picks, in order:

1. **TensorRT** when it is installed and an NVIDIA GPU is present; a plan for the ONNX
   file is looked up in (or built into) the :class:`~engines.cache.EngineCache`.
2. **torch on CUDA** when torch sees a GPU and a ``.pt2`` program lies beside the ONNX
   file (``model.onnx`` -> ``model.pt2``) or was given.
3. **ONNX Runtime** on CPU otherwise.

One log line (logger ``mestream.engines``) names the backend, precision, device and the
reason, e.g. ``engine onnxruntime fp32 on cpu for m.onnx: tensorrt not installed; no
NVIDIA GPU``.

Example (the choice alone, for a machine without TensorRT or a GPU):
    >>> from pathlib import Path
    >>> m = Machine(tensorrt=False, gpu=None, torch="not checked")
    >>> c = choose_backend(Path("m.onnx"), "auto", m)
    >>> c.backend, c.reason
    ('onnxruntime', 'tensorrt not installed; no NVIDIA GPU')
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engines import tensorrt_import
from engines.build import PLAN_SUFFIXES, precision_path
from engines.cache import BatchProfile, EngineCache
from engines.device import GpuInfo, first_gpu
from engines.engine import InferenceEngine
from engines.errors import BackendUnavailable, EngineLoadError
from engines.onnx_graph import read_onnx_graph

log = logging.getLogger("mestream.engines")

BACKENDS = ("auto", "tensorrt", "torch", "onnxruntime")
CACHE_ENV = "MESTREAM_ENGINE_CACHE"


def default_cache_dir() -> Path:
    """``$MESTREAM_ENGINE_CACHE``, else ``~/.cache/mestream/engines``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "mestream" / "engines"


@dataclass(frozen=True)
class Machine:
    """What the automatic choice looks at.

    ``torch``: "cuda", "cpu only", "not installed" or "not checked" (torch is imported
    only when it could be chosen: it takes seconds and the runtime avoids it).
    """

    tensorrt: bool
    gpu: GpuInfo | None
    torch: str


@dataclass(frozen=True)
class BackendChoice:
    backend: str
    artifact: Path          # the file the backend opens (.onnx, .pt2 or .plan)
    reason: str


def probe_machine(check_torch: bool) -> Machine:
    """Look at this machine; import torch to ask about CUDA only if ``check_torch`` and
    there is a GPU at all."""
    gpu = first_gpu()
    torch_state = "not checked"
    if check_torch and gpu is not None:
        if importlib.util.find_spec("torch") is None:
            torch_state = "not installed"
        else:
            import torch
            torch_state = "cuda" if torch.cuda.is_available() else "cpu only"
    return Machine(tensorrt_import.tensorrt_installed(), gpu, torch_state)


def _sibling_program(path: Path) -> Path | None:
    pt2 = path.with_suffix(".pt2")
    return pt2 if pt2.is_file() else None


def choose_backend(path: Path, requested: str, machine: Machine) -> BackendChoice:
    """Which backend opens ``path`` (pure: ``machine`` says what is installed)."""
    if requested not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {requested!r}")
    suffix = path.suffix
    if suffix in PLAN_SUFFIXES:
        if requested not in ("auto", "tensorrt"):
            raise ValueError(f"{path} is a TensorRT plan; only the tensorrt backend runs it")
        return BackendChoice("tensorrt", path, "a TensorRT plan was given")
    if suffix == ".pt2":
        if requested not in ("auto", "torch"):
            raise ValueError(f"{path} is a torch.export program; only the torch backend "
                             "runs it (give the .onnx for the others)")
        return BackendChoice("torch", path, "a torch.export program was given")
    if suffix != ".onnx":
        raise ValueError(f"{path}: expected a .onnx, .pt2 or .plan file")
    if requested == "tensorrt":
        return BackendChoice("tensorrt", path, "requested")
    if requested == "onnxruntime":
        return BackendChoice("onnxruntime", path, "requested")
    program = _sibling_program(path)
    if requested == "torch":
        if program is None:
            raise FileNotFoundError(f"the torch backend needs {path.with_suffix('.pt2')} "
                                    "(engines.torch_program.export_program writes it)")
        return BackendChoice("torch", program, "requested")
    why_not = []
    if not machine.tensorrt:
        why_not.append("tensorrt not installed")
    if machine.gpu is None:
        why_not.append("no NVIDIA GPU")
    if not why_not:
        gpu = machine.gpu
        return BackendChoice("tensorrt", path, f"tensorrt installed and GPU {gpu.name} "
                             f"(sm{gpu.sm}) found")
    if machine.gpu is not None:
        if program is None:
            why_not.append(f"no {path.with_suffix('.pt2').name} for torch")
        elif machine.torch == "cuda":
            return BackendChoice("torch", program, "; ".join(why_not) + f"; torch sees CUDA "
                                 f"and {program.name} exists")
        else:
            why_not.append(f"torch {machine.torch}")
    return BackendChoice("onnxruntime", path, "; ".join(why_not))


def open_engine(path: str | Path, backend: str = "auto", *, precision: str | None = None,
                min_batch: int = 1, opt_batch: int = 16, max_batch: int = 64,
                cache_dir: str | Path | None = None, workspace_mb: int | None = None,
                device: str | None = None, cuda_graphs: bool = False,
                intra_op_threads: int | None = None, inter_op_threads: int | None = None,
                providers: list[str] | None = None,
                machine: Machine | None = None) -> InferenceEngine:
    """Open ``path`` (``.onnx``, ``.pt2`` or ``.plan``) on ``backend``.

    Args:
        precision: "fp16"/"fp32"; default: FP16 on GPUs when the graph allows it,
            FP32 on CPU. ONNX Runtime always computes in the graph's own precision.
        min_batch / opt_batch / max_batch: the TensorRT profile when a plan is built.
        cache_dir: the engine cache (default :func:`default_cache_dir`).
        workspace_mb: TensorRT's builder workspace.
        device: torch's device (default: "cuda" if auto picked torch on a GPU, else cpu).
        cuda_graphs: torch on CUDA only.
        intra_op_threads / inter_op_threads / providers: ONNX Runtime's options.
        machine: what is installed (tests pass one; default: :func:`probe_machine`).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    if machine is None:
        # torch is only worth importing when it can be chosen.
        check_torch = path.suffix == ".pt2" or backend == "torch" or (
            backend == "auto" and _sibling_program(path) is not None
            and not tensorrt_import.tensorrt_installed())
        machine = probe_machine(check_torch)
    choice = choose_backend(path, backend, machine)
    if choice.backend == "onnxruntime":
        from engines.onnxruntime_engine import OnnxRuntimeEngine
        engine: InferenceEngine = OnnxRuntimeEngine(
            choice.artifact, intra_op_threads=intra_op_threads,
            inter_op_threads=inter_op_threads, providers=providers)
        note = ""
        if precision is not None and precision != engine.precision:
            note = f" (asked for {precision}; ONNX Runtime runs the graph as exported)"
    elif choice.backend == "torch":
        from engines.torch_engine import TorchEngine
        dev = device or ("cuda" if machine.torch == "cuda" else "cpu")
        prec = precision or ("fp16" if dev.startswith("cuda") else "fp32")
        engine = TorchEngine(choice.artifact, device=dev, precision=prec,
                             cuda_graphs=cuda_graphs)
        note = ""
    else:
        engine, note = _open_tensorrt(choice.artifact, precision, BatchProfile(
            min_batch, opt_batch, max_batch), cache_dir, workspace_mb, machine.gpu)
    log.info("engine %s %s on %s for %s: %s%s", engine.backend, engine.precision,
             engine.device, path.name, choice.reason, note)
    return engine


def _open_tensorrt(path: Path, precision: str | None, profile: BatchProfile,
                   cache_dir: str | Path | None, workspace_mb: int | None,
                   gpu: GpuInfo | None) -> tuple[InferenceEngine, str]:
    from engines.tensorrt_engine import TensorRTEngine

    if path.suffix in PLAN_SUFFIXES:
        return TensorRTEngine(path, precision=precision), ""
    trt = tensorrt_import.import_tensorrt()
    gpu = gpu or first_gpu()
    if gpu is None:
        raise BackendUnavailable("the tensorrt backend needs an NVIDIA GPU; none was found "
                                 "(nvidia-smi / cuda-python)")
    graph = read_onnx_graph(path)
    note = ""
    if precision is None:
        try:
            precision_path(tensorrt_import.tensorrt_major(trt), "fp16", graph.float_precision)
            precision = "fp16"
        except ValueError:
            precision = "fp32"
            note = (f" (FP32: TensorRT {trt.__version__} builds FP16 only from an FP16 graph;"
                    " mestream export --precision fp16)")
    options: dict[str, Any] = {}
    if workspace_mb is not None:
        options["workspace_mb"] = workspace_mb
    cache = EngineCache(cache_dir or default_cache_dir())
    args = (path, gpu, str(trt.__version__), precision, profile)
    plan = cache.get_or_build(*args, **options)
    try:
        engine = TensorRTEngine(plan, precision=precision, metadata=graph.metadata)
    except EngineLoadError as exc:
        # A plan that passed the manifest check but that this TensorRT refuses (e.g. two
        # TensorRT builds on the library path): rebuild once rather than fail.
        log.warning("%s; rebuilding", exc)
        cache.invalidate(*args)
        plan = cache.get_or_build(*args, **options)
        engine = TensorRTEngine(plan, precision=precision, metadata=graph.metadata)
    return engine, note
