"""engines/ imports nothing from pipeline/ or train/, and no module of it imports torch,
TensorRT, pycuda or cuda-python at import time (each backend imports its library when
an engine is opened), so the runtime installs and runs without them."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import engines
from tests.conftest import REPO

FORBIDDEN = ("torch", "tensorrt", "pycuda", "cuda", "pipeline", "train")


def all_engine_modules() -> list[str]:
    return ["engines"] + [f"engines.{m.name}" for m in pkgutil.iter_modules(engines.__path__)]


def test_importing_every_engines_module_loads_no_heavy_or_upper_layer() -> None:
    modules = all_engine_modules()
    assert {"engines.tensorrt_engine", "engines.torch_engine", "engines.commands",
            "engines.pycuda_memory", "engines.cuda_python_memory"} <= set(modules)
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "print('\\n'.join(sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, check=True, timeout=60)
    loaded = set(out.stdout.split())
    bad = sorted(m for m in loaded if m.split(".")[0] in FORBIDDEN)
    assert bad == []
