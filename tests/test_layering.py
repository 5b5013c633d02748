"""The package's layering (docs/ARCHITECTURE.md), read from the source with `ast`, so the picture stays true:

- rrs/checks and rrs/artifact never import torch, transformers, peft or sentence_transformers, nor anything from
  rrs/engine: not in their own code (lazy imports included), and not through the modules they load at import time;
- nothing outside the CLI (rrs/cli.py, rrs/commands/) imports rrs/checks;
- the rrs modules import each other without a cycle (lazy imports included).

Each rule is also run on a copy of the package with a planted violation, to show that it can fail.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "peft", "sentence_transformers")
TORCH_FREE = ("rrs.checks", "rrs.artifact")
CLI = ("rrs.cli", "rrs.commands")


def _within(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def modules(package: Path) -> dict[str, Path]:
    """Dotted name -> file, for every module under `package` (a folder named rrs)."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(path: Path, known: dict[str, Path], lazy: bool) -> set[str]:
    """The modules `path` imports: at module level only, or (lazy=True) anywhere in it. `from a import b` counts as
    importing a.b where a.b is a module of the package, and as importing a otherwise."""
    tree = ast.parse(path.read_text(), str(path))
    nodes = ast.walk(tree) if lazy else _module_level(tree.body)
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = {f"{node.module}.{a.name}" for a in node.names} & known.keys()
            out |= subs or {node.module}
    return out


def _module_level(body: list[ast.stmt]):
    """Statements run when the module is imported (module body, including if/try blocks; not functions)."""
    for node in body:
        yield node
        if isinstance(node, ast.If | ast.Try):
            for block in (node.body, node.orelse, getattr(node, "handlers", []), getattr(node, "finalbody", [])):
                yield from _module_level([n for n in block if isinstance(n, ast.stmt)])
            for handler in getattr(node, "handlers", []):
                yield from _module_level(handler.body)


def _loaded_by(name: str, graph: dict[str, set[str]]) -> set[str]:
    """Everything importing `name` loads (module-level imports, transitively)."""
    seen, todo = set(), [name]
    while todo:
        for dep in graph.get(todo.pop(), ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, deps = work[-1]
            dep = next(deps, None)
            if dep is not None:
                if dep not in index:
                    index[dep] = low[dep] = len(index)
                    stack.append(dep)
                    on_stack.add(dep)
                    work.append((dep, iter(sorted(graph[dep]))))
                elif dep in on_stack:
                    low[node] = min(low[node], index[dep])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    comp.append(member)
                    if member == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def violations(package: Path) -> list[str]:
    """Every breach of the layering in the package at `package`, one line each."""
    known = modules(package)
    lazy = {m: imports(p, known, lazy=True) for m, p in known.items()}
    eager_all = {m: imports(p, known, lazy=False) for m, p in known.items()}
    eager = {m: {d for d in deps if d in known and d != m} for m, deps in eager_all.items()}
    found = []
    for mod in sorted(known):
        if _within(mod, TORCH_FREE):
            found += [f"{mod} imports {dep} (rrs/checks and rrs/artifact stay torch- and engine-free)"
                      for dep in sorted(lazy[mod]) if _within(dep, HEAVY + ("rrs.engine",))]
            for dep in sorted(_loaded_by(mod, eager)):
                heavy = sorted(h for h in eager_all[dep] if _within(h, HEAVY + ("rrs.engine",)))
                found += [f"{mod} loads {dep}, which imports {h}" for h in heavy]
                if _within(dep, ("rrs.engine",)):
                    found.append(f"{mod} loads {dep}")
        if not _within(mod, CLI + ("rrs.checks",)):
            found += [f"{mod} imports {dep} (only the CLI imports rrs/checks)"
                      for dep in sorted(lazy[mod]) if _within(dep, ("rrs.checks",))]
    graph = {m: {d for d in deps if d in known and d != m} for m, deps in lazy.items()}
    found += ["import cycle: " + " -> ".join(c) for c in _cycles(graph)]
    return sorted(set(found))


def test_the_package_keeps_its_layers() -> None:
    assert violations(ROOT / "rrs") == []


def test_the_layers_cover_the_whole_package() -> None:
    known = modules(ROOT / "rrs")
    assert {"rrs.checks.run", "rrs.artifact.contract", "rrs.engine.runner", "rrs.measure.scaling"} <= known.keys()
    assert not any(_within(m, HEAVY) for m in known)


PLANTED = {
    "torch in the contract": ("artifact/contract.py", "\nimport torch\n", "rrs.artifact.contract imports torch"),
    "a lazy engine import in a check": (
        "checks/run.py", "\n\ndef _planted():\n    from rrs.engine.models import load\n",
        "rrs.checks.run imports rrs.engine.models"),
    "torch through a shared module": (
        "spec.py", "\nimport transformers\n", "rrs.checks.run loads rrs.spec, which imports transformers"),
    "the producer importing a check": (
        "engine/runner.py", "\nfrom rrs.checks.report import fold\n", "rrs.engine.runner imports rrs.checks.report"),
    "a cycle": ("engine/plan.py", "\n\ndef _planted():\n    import rrs.engine.runner\n", "import cycle: "),
}


@pytest.mark.parametrize("case", sorted(PLANTED))
def test_a_planted_violation_is_found(tmp_path: Path, case: str) -> None:
    file, planted, expected = PLANTED[case]
    package = tmp_path / "rrs"
    shutil.copytree(ROOT / "rrs", package, ignore=shutil.ignore_patterns("__pycache__", "data"))
    assert not any(expected in line for line in violations(package))
    with open(package / file, "a") as fh:
        fh.write(planted)
    assert any(expected in line for line in violations(package)), violations(package)


PLAN_WITHOUT_TORCH = """
import sys
for name in {heavy!r}:
    sys.modules[name] = None  # importing any of them now raises ImportError
from rrs.cli import main
sys.exit(main(["plan", "spec/smoke.yaml", "--cache", sys.argv[1]]))
"""


def test_rrs_plan_imports_no_torch(tmp_path: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", PLAN_WITHOUT_TORCH.format(heavy=HEAVY), str(tmp_path / "cache")],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "organism-xl" in proc.stdout
