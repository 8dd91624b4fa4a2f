"""One line on stderr where lm-eval's shape is not the one the task-index hook and the CLI guard were written for;
lm-eval is then left unpatched (our tasks need --include_path). Apart from both so neither imports the other."""
from __future__ import annotations

import sys


def unsupported(what: str) -> None:
    from importlib.metadata import version

    from lm_eval_tasks import TASK_DIR

    print(f"emergent-suite: lm-eval {version('lm_eval')} {what}; the suite is tested on lm-eval 0.4.13 "
          f"(pip install 'lm-eval==0.4.13'), or pass --include_path {TASK_DIR}", file=sys.stderr, flush=True)
