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
