"""The trusted parent's cost of hostile checks, measured in a fresh interpreter (the test process's own peak RSS may
already be high): the growth of its peak RSS over a run of checks, and the longest check."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import REPO

_SCRIPT = """
import json, resource, sys, time
from passuntil.sandbox import Limits
from passuntil.tasks import load_humaneval, check_result
from tests.hostile.completions import CASES
inst = next(i for i in load_humaneval().instances if i.id == 'HumanEval/53')
check_result(inst, '    return x + y\\n', Limits(wall_seconds=3))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
longest = 0.0
for name in json.loads(sys.argv[1]):
    t = time.perf_counter()
    r = check_result(inst, CASES[name].format(port=1), Limits(wall_seconds=3, memory_bytes=512 << 20))
    longest = max(longest, time.perf_counter() - t)
    assert not r.passed, (name, r)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024, longest)
"""


def parent_cost(names: list[str], timeout: int = 180) -> tuple[int, float]:
    """(MiB the parent's peak RSS grew by, seconds of the longest check) over the checks of `names`, in that order;
    every one must fail."""
    out = subprocess.run([sys.executable, "-c", _SCRIPT, json.dumps(names)], capture_output=True, text=True, cwd=REPO,
                         timeout=timeout, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr[-2000:]
    grown, longest = out.stdout.split()[-2:]
    return int(grown), float(longest)
