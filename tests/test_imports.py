"""The house's arrows point down: study -> stages -> contracts; a stage never imports another stage.

Walks every import (module level and inside functions: a lazy import is still an edge) of every
package with `ast`, so it costs milliseconds and needs none of the heavy libraries installed.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("trainer", "lm_eval_tasks", "passuntil", "analysis")
PACKAGES = ("contracts", *STAGES, "study", "emergent")
COMMAND = "emergent"  # the one module that composes the stages' click groups


def allowed(importer: str, imported: str) -> bool:
    """May module `importer` (dotted) import module `imported` (dotted, one of our packages)?"""
    src, dst = importer.split(".")[0], imported.split(".")[0]
    if src == dst or src == "study":
        return True
    if src == "contracts":
        return False  # contracts import no stage
    if src in STAGES:
        return dst == "contracts"
    if src == COMMAND:  # the stages' CLI groups (and the error root), nothing else
        return dst == "contracts" or imported in {f"{p}.cli" for p in (*STAGES, "study")}
    return False


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) for every import of one of our packages in `path`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this file's package
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import mod` imports pkg.mod when mod is a module; count the submodule then
            names = [f"{base}.{a.name}" if (ROOT / base.replace(".", "/") / f"{a.name}.py").is_file()
                     or (ROOT / base.replace(".", "/") / a.name / "__init__.py").is_file() else base
                     for a in node.names]
        else:
            continue
        found += [(node.lineno, name) for name in names if name.split(".")[0] in PACKAGES]
    return found


def forbidden_edges() -> list[str]:
    edges = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            importer = _module_name(path)
            for line, imported in _imports(path):
                if not allowed(importer, imported):
                    edges.append(f"{path.relative_to(ROOT)}:{line}: {importer} -> {imported}")
    return edges


def test_rules_reject_what_they_should():
    # the checker itself: each rule both ways, so a walk that finds nothing means something
    assert not allowed("contracts.run_dir", "trainer.config")
    assert allowed("contracts.run_dir", "contracts.atomic")
    assert not allowed("trainer.cli", "analysis.cli") and not allowed("passuntil.cli", "trainer.ladder")
    assert allowed("passuntil.scheduler", "contracts.records") and allowed("analysis.pipeline", "analysis.io")
    assert allowed("study.pipeline", "trainer.loop") and allowed("study.report", "analysis.plots")
    assert allowed("emergent.cli", "analysis.cli") and not allowed("emergent.cli", "analysis.pipeline")


def test_walk_sees_lazy_and_relative_imports(tmp_path, monkeypatch):
    pkg = tmp_path / "trainer"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "x.py").write_text("def f():\n    from analysis import io\n    from . import y\n    import passuntil.tasks\n")
    (pkg / "y.py").write_text("")
    (tmp_path / "analysis").mkdir()
    (tmp_path / "analysis" / "io.py").write_text("")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert _imports(pkg / "x.py") == [(2, "analysis.io"), (3, "trainer.y"), (4, "passuntil.tasks")]


def test_no_forbidden_import():
    edges = forbidden_edges()
    assert not edges, "imports that point up or across stages:\n" + "\n".join(edges)


def _existing_module(dotted: str) -> str | None:
    """`dotted` or its nearest parent that is one of our modules (an import of a name inside a module)."""
    while dotted:
        as_path = ROOT / dotted.replace(".", "/")
        if as_path.with_suffix(".py").is_file() or (as_path / "__init__.py").is_file():
            return dotted
        dotted = dotted.rpartition(".")[0]
    return None


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            here = _module_name(path)
            targets = {_existing_module(imported) for _, imported in _imports(path)}
            graph[here] = {t for t in targets if t and t != here}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_cycle_finder_finds_a_lazy_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_circle_inside_a_package():
    """A lazy import is still an edge: two modules that import each other are one module in two files."""
    assert cycles(import_graph()) == []
