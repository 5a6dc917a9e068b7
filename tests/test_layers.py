"""Dependencies point one way (train -> pipeline -> engines) and the runtime never
imports torch, so it installs and runs without it."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

RUNTIME_MODULES = [
    "pipeline.cli", "pipeline.config", "pipeline.wire", "pipeline.stage",
    "pipeline.stages", "pipeline.supervisor", "pipeline.client", "pipeline.sources",
    "pipeline.bench", "engines",
]


def imported_after(modules: list[str]) -> set[str]:
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "print('\\n'.join(sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, check=True, timeout=60)
    return set(out.stdout.split())


def test_runtime_never_imports_torch() -> None:
    loaded = imported_after(RUNTIME_MODULES)
    assert "torch" not in loaded
    assert not any(m.startswith("train") for m in loaded)


def test_engines_do_not_import_pipeline() -> None:
    loaded = imported_after(["engines"])
    assert not any(m == "pipeline" or m.startswith("pipeline.") for m in loaded)
