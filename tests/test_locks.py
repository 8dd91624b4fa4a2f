"""One writer per output (issue 27): a second writer is refused at once naming the holder's pid and host; a dead
holder's lock is taken over and said so; a process may take a lock it holds; the writers that append (records,
eval table, run directory, study folder) all take it."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from contracts.locks import OutputLock, OutputLocked, lock_path
from tests.conftest import REPO, run_cli

HOLD = ("import sys, time\nfrom contracts.locks import OutputLock\n"
        "with OutputLock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(float(sys.argv[2]))\n")


def _holder(target: Path, seconds: float = 30) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(target), str(seconds)], cwd=REPO, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    target = tmp_path / "pu.jsonl"
    proc = _holder(target)
    try:
        with pytest.raises(OutputLocked) as err:
            with OutputLock(target):
                pass
        assert f"pid {proc.pid} on {socket.gethostname()}" in str(err.value) and str(target) in str(err.value)
    finally:
        proc.kill()
        proc.wait()


def test_a_dead_holders_lock_is_taken_over_and_said_so(tmp_path):
    target = tmp_path / "eval.csv"
    proc = _holder(target)
    os.kill(proc.pid, signal.SIGKILL)  # no release: the kernel drops the flock with the process
    proc.wait()
    said = []
    with OutputLock(target, log=said.append):
        assert lock_path(target).read_text().split()[0] == str(os.getpid())
    assert said and f"from pid {proc.pid}" in said[0]
    with OutputLock(target, log=said.append):  # released cleanly: nothing to take over
        pass
    assert len(said) == 1


def test_a_process_may_take_its_own_lock_again(tmp_path):
    target = tmp_path / "run"
    target.mkdir()
    with OutputLock(target), OutputLock(target):
        assert lock_path(target) == target / ".lock"
    proc = _holder(target, 0.1)  # released: another process gets it
    assert proc.wait() == 0


def test_a_second_study_on_one_folder_is_refused_at_once(tmp_path):
    out = tmp_path / "study"
    out.mkdir()
    proc = _holder(out)
    try:
        start = time.perf_counter()
        res = run_cli("study", "--preset", "smoke", "--out", str(out))
        assert res.returncode == 2 and f"pid {proc.pid}" in res.stderr, res.stderr
        assert time.perf_counter() - start < 30 and sorted(p.name for p in out.iterdir()) == [".lock"]
    finally:
        proc.kill()
        proc.wait()


def test_passuntil_run_on_a_locked_records_file_is_refused(tmp_path):
    """The scheduler holds the lock for the whole run (read, sample, append): refused before anything is written."""
    from passuntil import scheduler
    from passuntil.backends.simulated import SimulatedBackend
    from passuntil.tasks import Instance, Task

    out = tmp_path / "pu.jsonl"
    task = Task("t", [Instance("0", "p", "exact", ["a"])], ["\n"], 4, 0, "test")
    proc = _holder(out)
    try:
        with pytest.raises(OutputLocked, match=f"pid {proc.pid}"):
            scheduler.run(task, SimulatedBackend({"0": 0.5}), scheduler.Settings(max_samples=8, batch_size=4, chunk_size=4),
                          out, "m", progress=False)
        assert not out.exists()
    finally:
        proc.kill()
        proc.wait()
