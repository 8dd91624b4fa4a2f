"""lm-eval tasks for the emergent suite: Du et al. 2024's 12 datasets plus continuous metrics.

The task folder is this package's directory. `lm_eval --tasks emergent_suite` finds it without
`--include_path` through a small import hook (lm_eval_tasks/_autoload.py) that an installed `.pth`
file registers; `python -m lm_eval_tasks` prints the folder for anyone who prefers `--include_path`.
This module must stay import-light: the hook imports it in every Python process of the environment.
"""
from pathlib import Path

TASK_DIR = Path(__file__).resolve().parent


def task_dir() -> str:
    """Entry point for lm-eval's proposed `lm_eval.tasks` plugin group (upstream PR #4015)."""
    return str(TASK_DIR)
