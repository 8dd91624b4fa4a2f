"""Injected kills at the exact moments a crash can leave partial state, for the tests of what a resume repairs.

`EMERGENT_CRASH_AT=NAME[:K]` makes the process SIGKILL itself the K-th time (default 1st) it reaches
`crash_point(NAME)`, as a cluster's preemption would. Unset (always, outside tests), a crash point costs one
dictionary lookup. The names, in the order a job reaches them:
- checkpoint:before-rename   the checkpoint's temporary folder is complete, not yet renamed into place
- checkpoint:before-jsonl    published, its checkpoints.jsonl line not yet appended
- checkpoint:before-prune    listed, the older checkpoints' optimizer states not yet removed
- eval:before-append         lm-eval's outputs of a checkpoint written (pending), its table rows not yet appended
- eval:before-publish        the rows appended, lm-eval's outputs not yet moved into place
- passuntil:after-record     a PassUntil record appended (the rest of the task not yet sampled)
"""
from __future__ import annotations

import os
import signal

ENV = "EMERGENT_CRASH_AT"
_hits: dict[str, int] = {}


def crash_point(name: str) -> None:
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    target, _, nth = wanted.rpartition(":")
    if not nth.isdigit():
        target, nth = wanted, "1"
    if target != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] == int(nth):
        os.kill(os.getpid(), signal.SIGKILL)
