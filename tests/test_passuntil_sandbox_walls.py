"""The sandbox's last walls (issue 26), measured directly: one memory bound over a whole check (a cgroup: forked
children and kernel memory included), a uid per sandbox, the seccomp filter at both levels (socket families,
SysV IPC, memfd, xattrs), and a parent that decodes replies within bounds, keeps "timeout" a timeout, and lets
an honest check beside a hostile one pass. On a machine without bubblewrap or a usable cgroup these fail
loudly (CI runs as root with both)."""
from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from passuntil import cgroup, isolation
from passuntil.sandbox import Limits, Sandbox, run_program
from passuntil.tasks import check_result, load_humaneval
from tests.hostile.completions import CASES
from tests.hostile.parent import parent_cost

LIMITS = Limits(wall_seconds=4.0, cpu_seconds=4, memory_bytes=256 << 20, tmpfs_bytes=8 << 20, audit_hook=False)
PROBES = r'''
import ctypes, os, socket
out = {}
for name, family, kind in [("unix", 1, 1), ("inet", 2, 1), ("inet6", 10, 2), ("vsock", 40, 1), ("netlink", 16, 3),
                           ("packet", 17, 3)]:
    try:
        socket.socket(family, kind).close()
        out[name] = 0
    except OSError as e:
        out[name] = e.errno
libc = ctypes.CDLL(None, use_errno=True)
out["shmget"] = libc.shmget(0, 1 << 20, 0o1600) >= 0
out["msgget"] = libc.msgget(0, 0o1600) >= 0
try:
    os.memfd_create("m")
    out["memfd"] = 0
except OSError as e:
    out["memfd"] = e.errno
open("x", "w").close()
try:
    os.setxattr("x", "user.k", b"v")
    out["xattr"] = 0
except OSError as e:
    out["xattr"] = e.errno
print(repr(out))
'''
REFUSED = {"unix": 0, "inet": 97, "inet6": 97, "vsock": 97, "netlink": 97, "packet": 97, "shmget": False,
           "msgget": False, "memfd": 1, "xattr": 1}


def _probe(iso: isolation.Isolation) -> dict:
    with Sandbox(LIMITS, "program", "", iso) as box:
        box.send_program(PROBES)
        assert box.wait_exit() == 0, box.output_text()
        return eval(box.output_text().strip().splitlines()[-1])


def test_seccomp_filter_at_the_bwrap_level():
    iso = isolation.detect()
    assert iso.level == isolation.BWRAP and iso.seccomp, iso.describe()
    assert _probe(iso) == REFUSED


def test_seccomp_filter_at_the_process_level():
    iso = isolation.probe_process("/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable, "test")
    assert iso is not None and iso.seccomp, "the bootstrap could not install the filter at the process level"
    assert _probe(iso) == REFUSED


def test_one_memory_bound_over_a_check_that_forks():
    assert cgroup.detect() is not None, "no usable memory cgroup here (CI runs as root)"
    forks = ("import os, time\nfor _ in range(6):\n    if os.fork() == 0:\n        x = bytearray(200 << 20)\n"
             "        x[::4096] = b'x' * len(x[::4096])\n        time.sleep(3)\n        os._exit(0)\n"
             "print([os.wait()[1] for _ in range(6)])\n")
    with Sandbox.fresh(LIMITS, "program") as box:
        box.send_program(forks)
        box.wait_exit()
        peak = box.cgroup.peak_bytes()
        killed = box.cgroup.oom_killed()
    # Six children at 200 MiB each would be 1.2 GiB; the check as a whole stays at its 256 MiB.
    assert killed and peak <= LIMITS.memory_bytes + (4 << 20), (peak, box.output_text())


def test_kernel_memory_of_empty_files_is_bounded():
    """Empty files cost no tmpfs bytes, only inodes (kernel memory): the check's cgroup charges them to its bound."""
    flood = "i = 0\nwhile True:\n    open('/tmp/e%d' % i, 'w').close()\n    i += 1\n"
    limits = Limits(**{**LIMITS.__dict__, "wall_seconds": 6.0, "cpu_seconds": 6})
    start = time.perf_counter()
    with Sandbox.fresh(limits, "program") as box:
        box.send_program(flood)
        try:
            box.wait_exit()
        except Exception:  # the wall clock: the bound is what is measured here
            pass
        peak = box.cgroup.peak_bytes()
    assert time.perf_counter() - start < limits.wall_seconds + 2
    # The bound held whichever limit ended the flood (the memory bound, or the CPU seconds on a busy machine).
    assert peak is not None and peak <= limits.memory_bytes + (4 << 20), peak


def test_parallel_sandboxes_run_as_different_uids():
    if os.getuid() != 0:
        pytest.skip("a uid per sandbox needs root; otherwise every check runs as the caller")
    code = "import os\nprint(os.getuid())\nimport time\ntime.sleep(1)\n"
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: run_program(code, LIMITS), range(3)))
    assert all(r.passed for r in results), results
    # Inside its user namespace each is mapped to itself; the host uids differ: the prints do too.
    assert len({r.stdout.strip() for r in results}) == 3, [r.stdout for r in results]


def _instance():
    return next(i for i in load_humaneval().instances if i.id == "HumanEval/53")


def test_a_check_out_of_time_is_a_timeout():
    result = check_result(_instance(), "    while True:\n        pass\n", Limits(wall_seconds=2.0, cpu_seconds=5))
    assert result.status == "timeout" and not result.passed, result


@pytest.mark.parametrize("name", ["reply_set_of_colliding_ints", "reply_dict_of_colliding_keys",
                                  "reply_that_expands_in_the_parent", "reply_float_overflow", "reply_nan_constant"])
def test_an_honest_check_beside_a_hostile_reply_passes(name):
    limits = Limits(wall_seconds=3.0, cpu_seconds=3, memory_bytes=512 << 20)
    hostile = CASES[name].format(port=1)

    def run(completion):
        start = time.perf_counter()
        return check_result(_instance(), completion, limits), time.perf_counter() - start

    with ThreadPoolExecutor(2) as pool:
        bad, good = pool.map(run, [hostile, "    return x + y\n"])
    assert not bad[0].passed and bad[1] < limits.wall_seconds + 2, bad
    assert good[0].passed and good[1] < limits.wall_seconds + 2, good


def test_reply_bombs_keep_the_parent_within_300_mib():
    """In a fresh interpreter: each reply attack leaves the parent's peak RSS within 300 MiB of its baseline and
    returns within its wall limit plus 2 s."""
    names = ["reply_set_of_colliding_ints", "reply_dict_of_colliding_keys", "reply_that_expands_in_the_parent",
             "huge_return_value", "deeply_nested_return"]
    grown, longest = parent_cost(names)
    assert longest < 5, f"a check took {longest:.1f} s"
    assert grown < 300, f"the parent's peak RSS grew by {grown} MiB"


def test_concurrent_first_checks_all_find_the_cgroup(monkeypatch):
    """The scheduler's check threads ask for the cgroup at once on first use: every one must find it (a shared probe
    directory once made all but one fail, and the failure was kept for the whole process)."""
    monkeypatch.setattr(cgroup, "_detected", [])
    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(lambda _: cgroup.detect(), range(8)))
    assert all(f is not None for f in found) and len({f for f in found}) == 1
