"""Built TensorRT plans, keyed by everything that makes a plan valid or invalid.

A plan only runs with the TensorRT version and GPU architecture it was built with, and
it embodies one ONNX file, one precision and one batch profile. The key covers all of
those (the ONNX file by the sha256 of its bytes), each plan has a ``manifest.json``
beside it, and :meth:`EngineCache.lookup` returns a plan only when its manifest matches
the key exactly and the plan's bytes are the ones the manifest recorded: a stale,
foreign or half-written engine is rebuilt, never loaded.

Layout::

    ROOT/
      stcnn-3f2a9c1b-trt10.13.3.9-sm90-fp16-b1_16_64-0c5e7d21/   one per key
        model.plan
        manifest.json
      timing-trt10.13.3.9-sm90.cache                     one timing cache per TRT + GPU

Example (a fake builder; the real one is engines.build.build_engine):
    >>> import tempfile
    >>> from pathlib import Path
    >>> from engines.device import GpuInfo
    >>> root = Path(tempfile.mkdtemp()); onnx = root / "m.onnx"
    >>> _ = onnx.write_bytes(b"graph")
    >>> def fake_build(onnx_path, plan, **options):
    ...     plan.write_bytes(b"plan"); return plan
    >>> cache = EngineCache(root / "engines", builder=fake_build)
    >>> gpu = GpuInfo(0, "NVIDIA H100", "9.0")
    >>> plan = cache.get_or_build(onnx, gpu, "10.13.3.9", "fp16", BatchProfile(1, 16, 64))
    >>> plan.parent.name.rsplit("-", 1)[0]
    'm-eef93e1d-trt10.13.3.9-sm90-fp16-b1_16_64'
    >>> cache.lookup(onnx, gpu, "10.13.3.9", "fp16", BatchProfile(1, 16, 64)) == plan
    True
    >>> cache.lookup(onnx, gpu, "11.4.0.106", "fp16", BatchProfile(1, 16, 64)) is None
    True
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engines.device import GpuInfo

log = logging.getLogger("mestream.engines")

PLAN_NAME = "model.plan"
MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1

Builder = Callable[..., Path]


@dataclass(frozen=True)
class BatchProfile:
    """The batch sizes an engine is built for (TensorRT tunes for ``opt``)."""

    min: int
    opt: int
    max: int

    def __post_init__(self) -> None:
        if not 1 <= self.min <= self.opt <= self.max:
            raise ValueError(f"need 1 <= min <= opt <= max, got {self}")


@dataclass(frozen=True)
class EngineKey:
    """Everything a plan depends on; two plans with equal keys are interchangeable."""

    onnx_sha256: str
    trt_version: str
    gpu_name: str
    compute_capability: str
    precision: str
    profile: BatchProfile

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def directory_name(self, model: str) -> str:
        """Readable, and unique per key: the GPU name, which has no short form, enters
        through the digest (an A10 and an A40 are both sm86, and TensorRT tunes for the
        exact GPU)."""
        p = self.profile
        return (f"{model}-{self.onnx_sha256[:8]}-trt{self.trt_version}-"
                f"sm{self.compute_capability.replace('.', '')}-{self.precision}-"
                f"b{p.min}_{p.opt}_{p.max}-{self.digest()[:8]}")

    def digest(self) -> str:
        """sha256 of the whole key (canonical JSON)."""
        return hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class EngineCache:
    """A directory of built plans (``root``), one subdirectory per :class:`EngineKey`.

    Args:
        root: where plans live (created on demand).
        builder: ``builder(onnx_path, plan_path, precision=, min_batch=, opt_batch=,
            max_batch=, timing_cache=, **options) -> Path``; default
            :func:`engines.build.build_engine` (imported when first needed).
    """

    def __init__(self, root: str | Path, builder: Builder | None = None):
        self.root = Path(root)
        self._builder = builder

    def key(self, onnx_path: str | Path, gpu: GpuInfo, trt_version: str, precision: str,
            profile: BatchProfile) -> EngineKey:
        return EngineKey(file_sha256(Path(onnx_path)), str(trt_version), gpu.name,
                         gpu.compute_capability, precision, profile)

    def directory(self, onnx_path: str | Path, key: EngineKey) -> Path:
        return self.root / key.directory_name(Path(onnx_path).stem)

    def timing_cache(self, key: EngineKey) -> Path:
        """Shared by every model on one TensorRT version and GPU (that is its scope)."""
        sm = key.compute_capability.replace(".", "")
        return self.root / f"timing-trt{key.trt_version}-sm{sm}.cache"

    def lookup(self, onnx_path: str | Path, gpu: GpuInfo, trt_version: str, precision: str,
               profile: BatchProfile) -> Path | None:
        """The cached plan for exactly this key, or ``None`` (missing, no manifest, a
        manifest for another key, or plan bytes that are not the recorded ones)."""
        key = self.key(onnx_path, gpu, trt_version, precision, profile)
        return self._valid_plan(self.directory(onnx_path, key), key)

    def _valid_plan(self, directory: Path, key: EngineKey) -> Path | None:
        plan, manifest_path = directory / PLAN_NAME, directory / MANIFEST_NAME
        if not plan.is_file():
            return None
        if not manifest_path.is_file():
            log.warning("%s has no %s: not loading it (it will be rebuilt)", plan,
                        MANIFEST_NAME)
            return None
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, ValueError):
            log.warning("%s is unreadable: the engine will be rebuilt", manifest_path)
            return None
        if manifest.get("key") != key.as_dict():
            log.warning("%s was built for %s, not %s: the engine will be rebuilt", plan,
                        manifest.get("key"), key.as_dict())
            return None
        if manifest.get("plan_sha256") != file_sha256(plan):
            log.warning("%s does not match its manifest (changed or half-written): the "
                        "engine will be rebuilt", plan)
            return None
        return plan

    def get_or_build(self, onnx_path: str | Path, gpu: GpuInfo, trt_version: str,
                     precision: str, profile: BatchProfile, **options: Any) -> Path:
        """The cached plan, or a new one built (once, under a file lock, so two
        processes starting together do not both build) and recorded."""
        onnx_path = Path(onnx_path)
        key = self.key(onnx_path, gpu, trt_version, precision, profile)
        directory = self.directory(onnx_path, key)
        plan = self._valid_plan(directory, key)
        if plan is not None:
            return plan
        with self._lock(directory.name):
            plan = self._valid_plan(directory, key)   # built by another process meanwhile?
            if plan is not None:
                return plan
            return self._build(onnx_path, directory, key, gpu, options)

    def invalidate(self, onnx_path: str | Path, gpu: GpuInfo, trt_version: str,
                   precision: str, profile: BatchProfile) -> None:
        """Remove a key's plan (e.g. TensorRT refused to deserialise it)."""
        key = self.key(onnx_path, gpu, trt_version, precision, profile)
        shutil.rmtree(self.directory(onnx_path, key), ignore_errors=True)

    def _build(self, onnx_path: Path, directory: Path, key: EngineKey, gpu: GpuInfo,
               options: dict[str, Any]) -> Path:
        builder = self._builder
        if builder is None:
            from engines.build import build_engine as builder
        # Build into a fresh temporary directory, then swap it in: a crash mid-build
        # leaves no plan that lookup could take for a good one.
        staging = self.root / f".{directory.name}.building"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        profile = key.profile
        started = time.monotonic()
        built = builder(onnx_path, staging / PLAN_NAME, precision=key.precision,
                        min_batch=profile.min, opt_batch=profile.opt, max_batch=profile.max,
                        timing_cache=self.timing_cache(key), **options)
        seconds = time.monotonic() - started
        if Path(built) != staging / PLAN_NAME:
            shutil.move(str(built), staging / PLAN_NAME)
        manifest = {
            "manifest_version": MANIFEST_VERSION,
            "key": key.as_dict(),
            "key_sha256": key.digest(),
            "onnx_path": str(onnx_path.resolve()),
            "plan_sha256": file_sha256(staging / PLAN_NAME),
            "gpu": asdict(gpu),
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "build_seconds": round(seconds, 3),
            "builder_options": {"precision": key.precision, "min_batch": profile.min,
                                "opt_batch": profile.opt, "max_batch": profile.max,
                                **{k: _jsonable(v) for k, v in options.items()}},
        }
        (staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        shutil.rmtree(directory, ignore_errors=True)
        staging.rename(directory)
        log.info("cached engine %s (built in %.1f s)", directory, seconds)
        return directory / PLAN_NAME

    @contextmanager
    def _lock(self, name: str) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f".{name}.lock", "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)
