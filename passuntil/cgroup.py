"""A memory cgroup per check: one bound over all of a check's processes, kernel memory included.

RLIMIT_AS bounds one process's address space only: a check that forks has max_processes times it, and kernel
objects (SysV segments, memfd, tmpfs inodes and xattrs, pipe buffers) are charged to no rlimit at all. A
memory cgroup charges every page and kernel object its processes allocate, so `memory_bytes` becomes the
bound of the whole check, with its tmpfs (shmem pages are charged to the cgroup that writes them).

Where one can be had:
- `PASSUNTIL_CGROUP=DIR`: a cgroup directory this user may create children in: a delegated cgroup v2 subtree
  (`systemd-run --user --scope -p Delegate=yes passuntil run ...`, then point DIR at a child of the scope
  that holds no process, e.g. `$(cat /proc/self/cgroup | cut -d: -f3)/../checks` created beforehand), or a
  cgroup v1 memory directory;
- else, as root, the caller's own cgroup: v2 at /sys/fs/cgroup (memory enabled in its subtree), or v1's memory
  hierarchy at /sys/fs/cgroup/memory (with pids where /sys/fs/cgroup/pids is writable).
Each check gets a child `passuntil-<pid>-<n>` with memory.max (v2) or memory.limit_in_bytes (v1) = the check's
memory and no swap, and pids.max = its process count; its processes are moved in before the program is sent
(nothing untrusted has run yet, and everything it forks inherits the cgroup); at the end everything in it is
killed and the directory removed.
"""
from __future__ import annotations

import itertools
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

V1_MEMORY, V1_PIDS, V2_ROOT = Path("/sys/fs/cgroup/memory"), Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup")
_counter = itertools.count()


@dataclass(frozen=True)
class Base:
    """Where check cgroups are made: (memory dir, pids dir or None, version)."""
    memory: Path
    pids: Path | None
    version: int

    def describe(self) -> str:
        pids = f", pids in {self.pids}" if self.pids else ", pids by RLIMIT_NPROC only"
        return f"cgroup v{self.version} under {self.memory}{pids}"


def _own(controller: str) -> str | None:
    """This process's cgroup path in the hierarchy of `controller` ('' for v2)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3 and (controller in parts[1].split(",") if controller else parts[0] == "0" and not parts[1]):
            return parts[2]
    return None


def _usable(directory: Path, probe_file: str) -> bool:
    """A child can be made in `directory` and has `probe_file` (the controller is on there)."""
    trial = directory / f"passuntil-probe-{os.getpid()}-{threading.get_ident()}-{next(_counter)}"
    try:
        trial.mkdir()
    except OSError:
        return False
    try:
        return (trial / probe_file).exists()
    finally:
        try:
            trial.rmdir()
        except OSError:
            pass


def _v2(directory: Path) -> Base | None:
    try:
        (directory / "cgroup.subtree_control").write_text("+memory +pids")
    except OSError:
        pass  # already on, or not ours to change: the probe below says
    if _usable(directory, "memory.max"):
        pids = directory if _usable(directory, "pids.max") else None
        return Base(directory, pids, 2)
    return None


_detected: list = []  # [Base | None] once measured
_detecting = threading.Lock()  # the scheduler's check threads ask at once on first use: one of them measures


def detect() -> Base | None:
    """The cgroup base for checks on this machine, or None (measured once per process)."""
    with _detecting:
        if not _detected:
            found = _detect()
            if found is not None:
                remove_stale(found)
            _detected.append(found)
        return _detected[0]


def _detect() -> Base | None:
    chosen = os.environ.get("PASSUNTIL_CGROUP")
    if chosen:
        directory = Path(chosen)
        if (directory / "memory.limit_in_bytes").exists():
            return Base(directory, None, 1) if _usable(directory, "memory.limit_in_bytes") else None
        return _v2(directory)
    if (V2_ROOT / "cgroup.controllers").exists():
        own = _own("")
        return _v2(V2_ROOT / own.lstrip("/")) if own is not None else None
    own_memory = _own("memory")
    if own_memory is None or not V1_MEMORY.is_dir():
        return None
    memory = V1_MEMORY / own_memory.lstrip("/")
    if not _usable(memory, "memory.limit_in_bytes"):
        return None
    own_pids = _own("pids")
    pids = V1_PIDS / own_pids.lstrip("/") if own_pids is not None and V1_PIDS.is_dir() else None
    return Base(memory, pids if pids is not None and _usable(pids, "pids.max") else None, 1)


def remove_stale(base: Base) -> None:
    """Remove check cgroups a killed process left behind (their pid is gone): a v1 parent with children left in it
    could not be removed by whoever owns it."""
    for directory in {base.memory, base.pids} - {None}:
        for child in directory.glob("passuntil-*-*"):  # type: ignore[union-attr]
            pid = child.name.split("-")[1]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                try:
                    child.rmdir()
                except OSError:
                    pass


def _write(path: Path, value: str) -> None:
    path.write_text(value)


class CheckCgroup:
    """The cgroup of one check (a directory in the memory hierarchy, and in the pids one where there is one)."""

    def __init__(self, base: Base, memory_bytes: int, max_processes: int):
        name = f"passuntil-{os.getpid()}-{next(_counter)}"
        self.dirs = [base.memory / name] + ([base.pids / name] if base.pids and base.pids != base.memory else [])
        for directory in self.dirs:
            directory.mkdir()
        memory = self.dirs[0]
        if base.version == 2:
            _write(memory / "memory.max", str(memory_bytes))
            if (memory / "memory.swap.max").exists():
                _write(memory / "memory.swap.max", "0")
            if base.pids:
                _write(memory / "pids.max", str(max_processes))
        else:
            _write(memory / "memory.limit_in_bytes", str(memory_bytes))
            if (memory / "memory.memsw.limit_in_bytes").exists():  # no swap beyond the memory bound
                _write(memory / "memory.memsw.limit_in_bytes", str(memory_bytes))
            if base.pids:
                _write(self.dirs[1] / "pids.max", str(max_processes))
        self.memory = memory

    def adopt(self, root_pid: int) -> None:
        """Move `root_pid` and all its descendants in, until none is left outside (a child forked while
        moving is caught on the next pass)."""
        for _ in range(50):
            outside = [pid for pid in _descendants(root_pid) if pid not in self.members()]
            if not outside:
                return
            for pid in outside:
                for directory in self.dirs:
                    try:
                        _write(directory / "cgroup.procs", str(pid))
                    except ProcessLookupError:
                        pass
        raise RuntimeError(f"could not move the sandbox's processes into {self.memory}")

    def members(self) -> set[int]:
        try:
            return {int(p) for p in (self.memory / "cgroup.procs").read_text().split()}
        except OSError:
            return set()

    def peak_bytes(self) -> int | None:
        for name in ("memory.peak", "memory.max_usage_in_bytes"):
            try:
                return int((self.memory / name).read_text())
            except (OSError, ValueError):
                continue
        return None

    def oom_killed(self) -> bool:
        try:
            text = (self.memory / ("memory.events" if (self.memory / "memory.events").exists() else "memory.oom_control"))
            fields = dict(line.split() for line in text.read_text().splitlines() if len(line.split()) == 2)
        except (OSError, ValueError):
            return False
        return int(fields.get("oom_kill", 0)) > 0

    def close(self) -> None:
        """Kill whatever is still in the cgroup and remove its directories."""
        for _ in range(100):
            members = self.members()
            if not members:
                break
            for pid in members:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.01)
        for directory in reversed(self.dirs):
            for _ in range(100):
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # the last processes are still being reaped
                    time.sleep(0.01)


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                todo += [int(c) for c in Path(f"/proc/{current}/task/{tid}/children").read_text().split()]
            except OSError:
                continue
    return out
