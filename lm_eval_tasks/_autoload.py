"""Adds the emergent-suite task folder to lm-eval's task index, so no --include_path is needed.

lm-eval 0.4.13 has no task-plugin discovery. The `emergent_suite_lm_eval.pth` file installed with
this package imports this module at interpreter start-up; it only registers a meta-path finder
(no lm-eval import, a string comparison per import). When a program imports
`lm_eval.tasks.manager`, the finder wraps `TaskManager.__init__` so that a manager built with
lm-eval's defaults also indexes our folder; when it imports `lm_eval._cli.run`, the `run` command gets the
suite's checks in front (lm_eval_tasks/preflight.py: names, data, model path, hub, in milliseconds).
Set EMERGENT_SUITE_NO_AUTOLOAD=1 to switch it off.
"""
from __future__ import annotations

import functools
import importlib.abc
import os
import sys

TARGET = "lm_eval.tasks.manager"
CLI_TARGET = "lm_eval._cli.run"  # lm-eval's `run` command: the suite's checks go first (lm_eval_tasks/preflight.py)


def _patch_cli(module) -> None:
    from lm_eval_tasks.preflight import patch_lm_eval_cli

    patch_lm_eval_cli(module)


def _patch(module) -> None:
    import inspect

    from lm_eval_tasks.lm_eval_shape import unsupported

    manager = getattr(module, "TaskManager", None)
    if manager is None:
        return unsupported("has no lm_eval.tasks.manager.TaskManager")
    if getattr(manager, "_emergent_suite_patched", False):
        return None
    original = manager.__init__
    signature = inspect.signature(original)
    if not {"include_path", "include_defaults"} <= set(signature.parameters):
        return unsupported("builds TaskManager without include_path and include_defaults")

    @functools.wraps(original)
    def __init__(self, *args, **kwargs):
        from lm_eval_tasks import TASK_DIR

        bound = signature.bind(self, *args, **kwargs)  # by name, wherever lm-eval puts the parameters
        bound.apply_defaults()
        if bound.arguments["include_defaults"]:
            include = bound.arguments["include_path"]
            paths = list(include) if isinstance(include, (list, tuple)) else ([include] if include else [])
            if not any(os.path.realpath(str(p)) == str(TASK_DIR) for p in paths):
                paths.insert(0, str(TASK_DIR))  # user paths come later and so take precedence
            bound.arguments["include_path"] = paths
        original(*bound.args, **bound.kwargs)

    manager.__init__ = __init__
    manager._emergent_suite_patched = True  # on the class: typeshed's functools.wraps result takes no attributes
    return None


class _Loader(importlib.abc.Loader):
    def __init__(self, inner):
        self.inner = inner

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module):
        self.inner.exec_module(module)
        (_patch_cli if module.__name__ == CLI_TARGET else _patch)(module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in (TARGET, CLI_TARGET):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _Loader(spec.loader)
                return spec
        return None


def install() -> None:
    if os.environ.get("EMERGENT_SUITE_NO_AUTOLOAD"):
        return
    if TARGET in sys.modules:  # imported before us: patch in place
        _patch(sys.modules[TARGET])
    if CLI_TARGET in sys.modules:
        _patch_cli(sys.modules[CLI_TARGET])
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


install()
