"""Hostile generated code ends as a failed check within the limits, and the run goes on."""
from __future__ import annotations

import os
import time

import pytest

from passuntil.records import read_records
from passuntil.sandbox import Limits, run_program
from passuntil.scheduler import Settings, run
from passuntil.tasks import Instance, Task

HOSTILE = {
    "infinite_loop": "while True:\n    pass\n",
    "fork_bomb": "import os\nwhile True:\n    os.fork()\n",
    "huge_allocation": "x = bytearray(8 << 30)\n",
    # /tmp inside is the sandbox's own tmpfs; the host's files are not even visible
    "write_outside": "open('/var/tmp/passuntil_sandbox_escape.txt', 'w').write('escaped')\n",
    "kill_parent": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n",
    "network_socket": "import socket\nsocket.socket(socket.AF_INET, socket.SOCK_STREAM).connect(('127.0.0.1', 9))\n",
    "subprocess": "import subprocess\nsubprocess.run(['sh', '-c', 'echo hi > /tmp/passuntil_sandbox_escape.txt'])\n",
}
LIMITS = Limits(wall_seconds=2.0, cpu_seconds=2, memory_bytes=512 << 20)


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_program_fails_within_limits(name):
    start = time.perf_counter()
    result = run_program(HOSTILE[name], LIMITS)
    assert not result.passed and result.status in ("failed", "timeout"), result
    assert time.perf_counter() - start < LIMITS.wall_seconds + 3
    assert not os.path.exists("/tmp/passuntil_sandbox_escape.txt")
    assert not os.path.exists("/var/tmp/passuntil_sandbox_escape.txt")


def test_good_program_passes_and_writes_only_inside():
    result = run_program("open('scratch.txt', 'w').write('ok')\nprint(open('scratch.txt').read())\n", LIMITS)
    assert result.passed and result.stdout.strip() == "ok"
    long = run_program("print('x' * 100000)", Limits(output_bytes=100))
    assert long.passed and len(long.stdout) == 100


class ScriptedBackend:
    """Hands out fixed completions in order: a stand-in for a model that writes hostile code."""

    name = "scripted"

    def __init__(self, completions):
        self.completions = list(completions)
        self.position = 0

    def sample(self, requests):
        out = []
        for req in requests:
            chunk = [self.completions[min(self.position + k, len(self.completions) - 1)] for k in range(req.n)]
            self.position += req.n
            out.append(chunk)
        return out


def test_run_continues_past_hostile_completions(tmp_path):
    instance = Instance("hostile", "", "code", tests="def check(fn):\n    assert fn(2) == 4\n", entry_point="square")
    completions = list(HOSTILE.values()) + ["def square(x):\n    return x * x\n"]
    settings = Settings(r=1, max_samples=50, batch_size=len(completions), chunk_size=len(completions), time_limit=2.0)
    out = tmp_path / "hostile.jsonl"
    start = time.perf_counter()
    run(Task("hostile", [instance], [], 64), ScriptedBackend(completions), settings, out, model_name="scripted",
        progress=False, log=lambda *_: None)
    (record,) = read_records(out)
    assert record["samples"] == len(completions) and record["passes"] == 1  # every hostile one failed, then a pass
    assert time.perf_counter() - start < 20
    assert not os.path.exists("/tmp/passuntil_sandbox_escape.txt")
