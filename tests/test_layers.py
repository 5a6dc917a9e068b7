"""Dependencies point one way (train -> pipeline -> engines) and the runtime never
imports torch, so it installs and runs without it."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

RUNTIME_MODULES = [
    "mestream.cli", "pipeline.config", "pipeline.runtime.wire", "pipeline.runtime.stage",
    "pipeline.runtime.runner", "pipeline.stages", "pipeline.runtime.supervisor",
    "pipeline.client", "pipeline.sources", "bench.run", "engines",
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


LAYERS = {"engines": 0, "pipeline": 1, "train": 2, "bench": 3, "mestream": 4, "lab": 5}
"""Each package may import only those below it: ``mestream`` is the composition root,
``lab`` (past research tools) sits above the product and nothing imports it."""


def import_graph() -> dict[str, set[str]]:
    """Module -> the product modules it imports: every ``import`` statement, at the top,
    inside functions (lazy) or under ``TYPE_CHECKING``, read from the source."""
    import ast

    modules = {}
    for package in LAYERS:
        for path in (REPO / package).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                # A package's own __init__ is loaded with it: not an edge of the graph.
                if target and target != module and not module.startswith(target + "."):
                    graph[module].add(target)
    return graph


def test_no_module_imports_a_layer_above_its_own_not_even_lazily() -> None:
    upward = sorted(f"{m} -> {d}" for m, deps in import_graph().items() for d in deps
                    if LAYERS[d.split(".")[0]] > LAYERS[m.split(".")[0]])
    assert upward == []


def test_there_is_no_import_cycle_lazy_imports_included() -> None:
    """Before: cli <-> demo (the demo used the CLI's private helpers) and keys <->
    sockets (each named the other's types)."""
    graph = import_graph()
    cycles, done = [], set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            cycles.append(" -> ".join(path[path.index(module):] + [module]))
            return
        if module in done:
            return
        for dep in sorted(graph[module]):
            visit(dep, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    assert cycles == []
