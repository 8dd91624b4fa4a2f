"""Every third-party package the code imports is declared in pyproject.toml (a dependency or, for the optional
backends and loggers, an extra), so a clean install with only the declared set imports every module."""
from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("contracts", "trainer", "lm_eval_tasks", "passuntil", "analysis", "study", "emergent")
OURS = {*PACKAGES, "setup_hooks", "tests", "benchmarks"}
# Imported only inside an optional path, each behind its extra (or a clear error naming it).
OPTIONAL = {"vllm": "vllm", "torch.utils.tensorboard": "tensorboard", "tensorboard": "tensorboard", "wandb": "wandb"}


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _declared() -> tuple[set[str], dict[str, set[str]]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = {extra: {_name(r) for r in reqs} for extra, reqs in project["optional-dependencies"].items()}
    return {_name(r) for r in project["dependencies"]}, extras


def _top_level_imports() -> dict[str, str]:
    """{top-level module: first file:line importing it} over every module of the distribution."""
    found: dict[str, str] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    full = name if name in OPTIONAL else name.split(".")[0]
                    found.setdefault(full, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_imported_package_is_declared():
    required, extras = _declared()
    distributions = packages_distributions()
    undeclared = []
    for module, where in sorted(_top_level_imports().items()):
        top = module.split(".")[0]
        if top in OURS or top in sys.stdlib_module_names or top == "__future__":
            continue
        if module in OPTIONAL:
            assert OPTIONAL[module] in extras.get(OPTIONAL[module], set()), (module, where)
            continue
        owners = {d.lower().replace("_", "-") for d in distributions.get(top, [])}
        if not owners & required:
            undeclared.append(f"{module} ({where}; installed by {sorted(owners) or 'nothing'})")
    assert undeclared == [], "imported but not declared in pyproject.toml dependencies: " + "; ".join(undeclared)


def test_patched_libraries_have_ceilings():
    """lm-eval, transformers and vLLM internals are patched or relied on: each is bounded above."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [r for reqs in project["optional-dependencies"].values() for r in reqs]
    for name in ("lm-eval", "transformers", "vllm"):
        (spec,) = [r for r in requirements if _name(r) == name]
        assert "<" in spec and ">=" in spec, spec
