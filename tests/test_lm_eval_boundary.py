"""The lm-eval boundary: the task-index hook binds TaskManager's parameters by name, and where lm-eval's shape is
not the one it was written for it says so in one line naming the version and leaves lm-eval unpatched."""
from __future__ import annotations

import types

from lm_eval_tasks import TASK_DIR
from lm_eval_tasks._autoload import _patch
from lm_eval_tasks.preflight import patch_lm_eval_cli


def _module(cls) -> types.ModuleType:
    module = types.ModuleType("fake_manager")
    module.TaskManager = cls
    return module


def test_parameters_are_bound_by_name_wherever_lm_eval_puts_them():
    class Reordered:  # a future TaskManager with its parameters in another order
        def __init__(self, include_defaults=True, metadata=None, include_path=None, verbosity=None):
            self.include_path, self.include_defaults = include_path, include_defaults

    _patch(_module(Reordered))
    assert Reordered().include_path == [str(TASK_DIR)]
    assert Reordered(True, None, ["/mine"]).include_path == [str(TASK_DIR), "/mine"]
    assert Reordered(include_defaults=False).include_path is None  # an explicit index of the user's own only


def test_an_unknown_task_manager_is_named_in_one_line_and_left_alone(capsys):
    class Rewritten:
        def __init__(self, sources=None):
            self.sources = sources

    original = Rewritten.__init__
    _patch(_module(Rewritten))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("emergent-suite: lm-eval 0.4.") and "include_path" in err[0]
    assert str(TASK_DIR) in err[0] and Rewritten.__init__ is original


def test_a_cli_without_the_run_command_is_named_in_one_line(capsys):
    patch_lm_eval_cli(types.ModuleType("fake_cli"))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "lm_eval._cli.run.Run._execute" in err[0]
