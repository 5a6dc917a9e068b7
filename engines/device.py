"""Which NVIDIA GPU this process would run on, found without torch.

``nvidia-smi`` is asked first (it ships with the driver), then cuda-python if installed.
No GPU, no driver, or ``CUDA_VISIBLE_DEVICES`` hiding every device gives ``None``.

Example:
    >>> parse_nvidia_smi("NVIDIA H100 80GB HBM3, 9.0, 550.54.15\\n")
    [GpuInfo(index=0, name='NVIDIA H100 80GB HBM3', compute_capability='9.0', driver='550.54.15')]
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

QUERY = ["nvidia-smi", "--query-gpu=name,compute_cap,driver_version",
         "--format=csv,noheader"]


@dataclass(frozen=True)
class GpuInfo:
    """One GPU: what an engine cache needs to tell engines for different GPUs apart."""

    index: int
    name: str
    compute_capability: str      # "8.6", "9.0": TensorRT plans are tied to it
    driver: str = ""

    @property
    def sm(self) -> str:
        """``"86"`` for 8.6, as in file names (``sm86``)."""
        return self.compute_capability.replace(".", "")


def parse_nvidia_smi(text: str) -> list[GpuInfo]:
    """The GPUs in ``nvidia-smi --query-gpu=name,compute_cap,driver_version`` CSV output."""
    gpus = []
    for i, line in enumerate(ln for ln in text.splitlines() if ln.strip()):
        parts = [p.strip() for p in line.rsplit(",", 2)]
        if len(parts) != 3:
            continue
        gpus.append(GpuInfo(i, parts[0], parts[1], parts[2]))
    return gpus


def _visible(gpus: list[GpuInfo]) -> list[GpuInfo]:
    """Apply ``CUDA_VISIBLE_DEVICES`` (nvidia-smi ignores it; CUDA programs obey it)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is None:
        return gpus
    wanted = [v.strip() for v in env.split(",") if v.strip()]
    if not wanted or wanted[0] == "-1":
        return []
    if all(v.isdigit() for v in wanted):
        by_index = {g.index: g for g in gpus}
        return [by_index[int(v)] for v in wanted if int(v) in by_index]
    return gpus     # UUIDs or MIG names: trust the order nvidia-smi gave


def _from_nvidia_smi() -> list[GpuInfo] | None:
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(QUERY, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:      # a driver/library mismatch, or no device
        return None
    return parse_nvidia_smi(out.stdout)


def _from_cuda_python() -> list[GpuInfo] | None:
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        return None
    err, count = cudart.cudaGetDeviceCount()
    if err != cudart.cudaError_t.cudaSuccess:
        return None
    gpus = []
    for i in range(count):
        err, props = cudart.cudaGetDeviceProperties(i)
        if err != cudart.cudaError_t.cudaSuccess:
            continue
        name = props.name.split(b"\0", 1)[0].decode(errors="replace")
        gpus.append(GpuInfo(i, name, f"{props.major}.{props.minor}"))
    return gpus


def discover_gpus() -> list[GpuInfo]:
    """Every GPU this process may use (cuda-python's list already obeys
    ``CUDA_VISIBLE_DEVICES``); an empty list without a GPU or a driver."""
    gpus = _from_nvidia_smi()
    if gpus is not None:
        return _visible(gpus)
    return _from_cuda_python() or []


def first_gpu() -> GpuInfo | None:
    """The GPU CUDA calls device 0, or ``None``."""
    gpus = discover_gpus()
    return gpus[0] if gpus else None
