"""Build step: ship `emergent_suite_lm_eval.pth` at the top of site-packages (see lm_eval_tasks/_autoload.py).

A regular wheel gets it from build_lib. An editable install (PEP 660) only copies package
mappings from build_lib, but writes whatever lands in the unpacked wheel (install_lib), so in
editable mode the file goes there as well.
"""
from __future__ import annotations

from pathlib import Path

from setuptools.command.build_py import build_py

PTH_NAME = "emergent_suite_lm_eval.pth"
PTH_LINE = "import lm_eval_tasks._autoload\n"


class BuildPyWithPth(build_py):
    def run(self):
        super().run()
        targets = [Path(self.build_lib)]
        if getattr(self, "editable_mode", False):
            targets.append(Path(self.get_finalized_command("install").install_lib))
        for directory in targets:
            directory.mkdir(parents=True, exist_ok=True)
            (directory / PTH_NAME).write_text(PTH_LINE)

    def get_outputs(self, include_bytecode=True):
        return super().get_outputs(include_bytecode) + [str(Path(self.build_lib) / PTH_NAME)]
