"""Running generated code: it is hostile input, and the walls are the operating system's.

Each check starts a fresh sandboxed interpreter at the isolation level measured by
passuntil/isolation.py (bubblewrap namespaces as an unprivileged host uid; `process` only where the
kernel allows nothing better and the user said so). Inside, before any generated code, a trusted
bootstrap (passuntil/sandbox_child.py) lowers CPU, address-space, process, open-file and file-size
limits, keeps only its three pipes and installs an audit hook as a second layer.
The parent
- starts it with Popen(user=nobody, close_fds=True, start_new_session=True): no preexec_fn (unsafe with the
  scheduler's threads), an empty environment;
- talks to it only through its pipes, with one deadline for the whole check (wall clock);
- reads at most `output_bytes` of its output and discards the rest as it arrives (never buffers it);
- at the end kills its PID namespace's init (everything the check started dies with it) and waits
  for it; the namespace's tmpfs, the only writable place, is gone with the namespace.
Sandboxes are started ahead of need (`_Prestarted`, PASSUNTIL_PRESTART=2 per size) and each serves one
check only; a prestarted one has run nothing but the trusted bootstrap, waiting for its program.
"""
from __future__ import annotations

import atexit
import json
import marshal
import os
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import IO

from passuntil import cgroup, isolation, seccomp, uids
from passuntil.sandbox_child import CHILD

# A reply larger than this is a failed check, not the parent's problem. The bound is on time as much as memory:
# the parent parses and decodes a reply while other checks wait on the same interpreter, and 2 MiB of small objects
# took 0.8 s on an idle core and 6 s on a busy 2-core CI machine (over a 3 s wall limit). 512 KiB is ~100x the
# largest reply a HumanEval test provokes, and parses in ~0.1 s.
MAX_MESSAGE = 512 << 10
MAX_OBJECTS = 60_000


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 10.0
    cpu_seconds: int = 10
    memory_bytes: int = 1 << 30
    file_bytes: int = 16 << 20
    tmpfs_bytes: int = 32 << 20
    max_processes: int = 16  # the check's processes and threads (its own uid and pids cgroup where there is one)
    open_files: int = 64
    output_bytes: int = 8192
    audit_hook: bool = True  # the second layer; tests turn it off to show the OS walls alone


@dataclass(frozen=True)
class CheckResult:
    passed: bool
    status: str  # "passed", "failed", "timeout"
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    reason: str = ""
    isolation: str = ""


class SandboxTimeout(Exception):
    pass


class SandboxClosed(Exception):
    pass


def _rlimits(limits: Limits) -> dict:
    return {"RLIMIT_CPU": limits.cpu_seconds, "RLIMIT_AS": limits.memory_bytes, "RLIMIT_FSIZE": limits.file_bytes,
            "RLIMIT_CORE": 0, "RLIMIT_NPROC": limits.max_processes, "RLIMIT_NOFILE": limits.open_files}


class Sandbox:
    """One sandboxed interpreter for one check; never reused. Use as a context manager."""

    @classmethod
    def fresh(cls, limits: Limits, mode: str, entry_point: str = "") -> Sandbox:
        """A never-used sandbox at the level in force: a prestarted one when ready, else a new one."""
        iso = isolation.require()
        require_memory_bound()
        box = _PRESTARTED.take(iso, limits.tmpfs_bytes) or cls(limits, mode, entry_point, iso)
        box.assign(limits, mode, entry_point)
        return box

    def __init__(self, limits: Limits, mode: str, entry_point: str = "", iso: isolation.Isolation | None = None):
        self.iso = iso or isolation.require()
        self.assign(limits, mode, entry_point)
        self.output = bytearray()
        self.output_seen = 0
        self.timed_out = False
        self._init_pidfd: int | None = None
        self.cgroup: cgroup.CheckCgroup | None = None
        self.oom = False
        self.uid = uids.lease()  # its own host uid when we are root: per-user kernel budgets are not shared
        bwrap = self.iso.level == isolation.BWRAP
        bpf = self._seccomp_filter() if bwrap and self.iso.seccomp else None
        info_read, info_write = os.pipe() if bwrap else (None, None)
        filter_fd = seccomp.pipe_with(bpf) if bpf is not None else None
        workdir = None if bwrap else self._process_level_dir()
        self.workdir = workdir
        argv, extra = self._argv(info_write, filter_fd)
        passed = tuple(fd for fd in (info_write, filter_fd) if fd is not None)
        proc: subprocess.Popen[bytes] | None = None
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    env=isolation.child_env(workdir) if workdir is not None else {},
                                    close_fds=True, pass_fds=passed, cwd=workdir or "/", **extra)
        finally:
            for fd in passed:
                os.close(fd)
            if proc is None and workdir:
                shutil.rmtree(workdir, ignore_errors=True)
            if proc is None and self.uid is not None:
                self.uid.release()
            if proc is None and info_read is not None:
                os.close(info_read)
        self.proc = proc
        self.stdin, self.stdout, self.stderr = _pipes(proc)
        if info_read is not None:
            self._init_pidfd = self._namespace_init(info_read)
        for pipe in (self.stdout, self.stderr):
            os.set_blocking(pipe.fileno(), False)

    def assign(self, limits: Limits, mode: str, entry_point: str) -> None:
        """The check's limits and mode (sent with the program); its wall clock starts now."""
        self.limits = limits
        self.deadline = time.monotonic() + limits.wall_seconds
        self._config = {"rlimits": _rlimits(limits), "hook": limits.audit_hook, "mode": mode, "entry_point": entry_point}
        if self.iso.level == isolation.PROCESS and self.iso.seccomp:  # no bwrap to load it: the bootstrap installs it
            self._config["seccomp"] = self._seccomp_filter()

    def _argv(self, info_fd, filter_fd) -> tuple[list[str], dict]:
        python = [self.iso.python, "-I", "-S", "-c", CHILD]
        user = ({"user": self.uid.uid, "group": self.uid.uid, "extra_groups": []} if self.uid is not None
                else isolation.unprivileged_popen_args())
        extra = {**user, "start_new_session": True}  # its own group (process_group needs 3.11)
        if info_fd is not None:
            env = [a for k, v in isolation.child_env("/tmp").items() for a in ("--setenv", k, v)]
            info = ["--info-fd", str(info_fd)]
            return isolation.bwrap_argv(self.iso, self.limits.tmpfs_bytes, filter_fd) + info + env + python, extra
        return python, extra

    @staticmethod
    def _seccomp_filter() -> bytes:
        bpf = seccomp.program()
        if bpf is None:  # the probe found a filter on this machine; it must not silently go missing
            raise RuntimeError("the isolation probe found a seccomp filter, but seccomp.program() builds none here")
        return bpf

    def _process_level_dir(self) -> str:
        workdir = tempfile.mkdtemp(prefix="passuntil-check-")
        if os.getuid() == 0:
            owner = self.uid.uid if self.uid is not None else isolation.NOBODY
            os.chown(workdir, owner, owner)
        return workdir

    def _namespace_init(self, info_read: int):
        """A pidfd for the PID namespace's init: killing it kills everything in the namespace, and its
        exit is signalled only after every process in the namespace is gone."""
        data = b""
        try:
            while select.select([info_read], [], [], 10)[0]:
                chunk = os.read(info_read, 4096)
                if not chunk:
                    break
                data += chunk
        finally:
            os.close(info_read)
        try:
            return os.pidfd_open(int(json.loads(data)["child-pid"]))
        except (ValueError, KeyError, OSError):
            return None  # bwrap failed to start: nothing runs in a namespace

    # ------------------------------------------------------------ I/O with one deadline

    def _remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            self.timed_out = True
            raise SandboxTimeout(f"wall-clock limit of {self.limits.wall_seconds:g} s")
        return left

    def _drain_output(self) -> None:
        fd = self.stderr.fileno()
        try:
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    return
                self.output_seen += len(chunk)
                room = self.limits.output_bytes - len(self.output)
                if room > 0:
                    self.output += chunk[:room]
        except BlockingIOError:
            return

    def _send(self, obj) -> None:
        """`obj` is plain data (the supervisor checks arguments' exact types before they get here)."""
        data = marshal.dumps(obj)
        data = len(data).to_bytes(4, "big") + data
        fd = self.stdin.fileno()
        os.set_blocking(fd, False)
        while data:
            _, writable, _ = select.select([self.stderr], [fd], [], self._remaining())
            self._drain_output()
            if writable:
                try:
                    data = data[os.write(fd, data):]
                except (BrokenPipeError, OSError):
                    raise SandboxClosed("the sandboxed process closed its input") from None

    def _read(self, n: int) -> bytes:
        buf = bytearray()
        fd = self.stdout.fileno()
        while len(buf) < n:
            readable, _, _ = select.select([fd, self.stderr.fileno()], [], [], self._remaining())
            self._drain_output()
            if fd in readable:
                try:
                    chunk = os.read(fd, min(n - len(buf), 1 << 20))
                except BlockingIOError:
                    continue
                if not chunk:
                    raise SandboxClosed("the sandboxed process ended")
                buf += chunk
        return bytes(buf)

    def receive(self):
        n = int.from_bytes(self._read(4), "big")
        if n > MAX_MESSAGE:
            raise SandboxClosed(f"a reply of {n} bytes is over the {MAX_MESSAGE}-byte limit")
        return json.loads(self._read(n).decode("utf-8"), object_pairs_hook=_Counted(), parse_constant=_no_constant)

    def request(self, obj):
        self._send(obj)
        return self.receive()

    def send_program(self, code: str) -> None:
        base = cgroup.detect()
        if base is not None and self.cgroup is None:  # before anything untrusted runs: all it forks stays inside
            self.cgroup = cgroup.CheckCgroup(base, self.limits.memory_bytes, self.limits.max_processes + HARNESS_TASKS)
            self.cgroup.adopt(self.proc.pid)
        self._send(self._config)
        self._send({"program": code})

    def wait_exit(self) -> int | None:
        """Wait (within the deadline) for the process to exit, draining its output."""
        while self.proc.poll() is None:
            select.select([self.stderr], [], [], min(self._remaining(), 0.05))
            self._drain_output()
        self._drain_output()
        return self.proc.returncode

    # ------------------------------------------------------------ the end: nothing survives

    def close(self) -> None:
        if self._init_pidfd is not None:
            try:
                signal.pidfd_send_signal(self._init_pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass
            select.select([self._init_pidfd], [], [], 10)  # readable once the whole namespace is gone
            os.close(self._init_pidfd)
            self._init_pidfd = None
        try:
            self.proc.wait(timeout=2 if self.iso.level == isolation.BWRAP else 0)  # bwrap exits with its init
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # bwrap itself, or the session of the `process` level
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        if self.cgroup is not None:
            self.oom = self.cgroup.oom_killed()
            self.cgroup.close()
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        if self.uid is not None:
            self.uid.release()
            self.uid = None
        for pipe in (self.stdin, self.stdout, self.stderr):
            try:
                pipe.close()
            except OSError:
                pass

    def output_text(self) -> str:
        return self.output.decode("utf-8", "replace")

    def output_note(self) -> str:
        extra = self.output_seen - len(self.output)
        note = f"; {extra} more bytes of output discarded" if extra > 0 else ""
        if getattr(self, "oom", False):
            note += f"; the check reached its memory bound ({self.limits.memory_bytes} bytes over all its processes)"
        return note

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Counted:
    """The JSON parser's object hook: stops the parse once a reply holds more than MAX_OBJECTS objects."""

    def __init__(self):
        self.left = MAX_OBJECTS

    def __call__(self, pairs):
        self.left -= 1
        if self.left < 0:
            raise ValueError(f"a reply of more than {MAX_OBJECTS} objects")
        return dict(pairs)


def _no_constant(name: str):
    raise ValueError(f"{name} is not plain data in a reply")


HARNESS_TASKS = 3  # bwrap, the namespace's init and the bootstrap count against the cgroup's pids.max too
_allowed = {"unbounded": os.environ.get("PASSUNTIL_ALLOW_NO_CGROUP") == "1"}


def allow_no_cgroup(allowed: bool = True) -> None:
    """The user's consent (`passuntil run --allow-no-cgroup`) to per-process memory bounds only."""
    _allowed["unbounded"] = allowed


def require_memory_bound() -> None:
    """Refuse checks without a memory cgroup unless the user accepted the weaker per-process bound."""
    if cgroup.detect() is None and not _allowed["unbounded"]:
        raise isolation.IsolationError(
            "no memory cgroup for code checks: RLIMIT_AS bounds each process only and kernel memory not at all; run "
            "as root, or set PASSUNTIL_CGROUP to a delegated cgroup (docs/PASSUNTIL.md), or pass --allow-no-cgroup "
            "to accept max_processes x memory_bytes per check")


def memory_bound(limits: Limits, parallel: int) -> str:
    """One line for the log: what bounds a check's memory here, and all parallel checks together."""
    base = cgroup.detect()
    gib = 1 << 30
    if base is not None:
        return (f"memory: {limits.memory_bytes / gib:.3g} GiB per check over all its processes, kernel memory and "
                f"tmpfs included ({base.describe()}); {parallel} in parallel: {parallel * limits.memory_bytes / gib:.3g} GiB")
    return (f"memory: NO cgroup, {limits.max_processes} processes x {limits.memory_bytes / gib:.3g} GiB per check "
            f"(RLIMIT_AS each; kernel memory unbounded); {parallel} in parallel: "
            f"{parallel * limits.max_processes * limits.memory_bytes / gib:.3g} GiB")


def _pipes(proc: subprocess.Popen[bytes]) -> tuple[IO[bytes], IO[bytes], IO[bytes]]:
    """The child's stdin, stdout and stderr (Optional in typeshed; never None when all three are PIPE)."""
    if proc.stdin is None or proc.stdout is None or proc.stderr is None:
        raise RuntimeError("the sandbox was started without its three pipes")
    return proc.stdin, proc.stdout, proc.stderr


class _Prestarted:
    """Sandboxes started ahead of need, `depth` per (level, tmpfs size), so a check does not wait for
    namespaces and an interpreter to come up. Each is handed out once and never reused: nothing
    untrusted has run in it before (a dirty environment is never reused). One filler thread per key
    lives as long as the process: bwrap's --die-with-parent follows the thread that started it."""

    def __init__(self, depth: int = 2):
        self.depth = depth
        self.wakeup = threading.Condition()
        self.idle: dict[tuple, list[Sandbox]] = {}
        atexit.register(self.close_all)

    def take(self, iso: isolation.Isolation, tmpfs_bytes: int) -> Sandbox | None:
        key = (iso, tmpfs_bytes)
        if self.depth <= 0:
            return None
        with self.wakeup:
            if key not in self.idle:
                self.idle[key] = []
                threading.Thread(target=self._fill, args=(key,), daemon=True, name="passuntil-prestart").start()
            ready = self.idle[key]
            box = ready.pop(0) if ready else None
            self.wakeup.notify_all()
        if box is not None and box.proc.poll() is not None:  # died while waiting: not used
            box.close()
            return None
        return box

    def _fill(self, key: tuple) -> None:
        iso, tmpfs_bytes = key
        while True:
            with self.wakeup:
                while key in self.idle and len(self.idle[key]) >= self.depth:
                    self.wakeup.wait()
                if key not in self.idle:
                    return
            try:
                box = Sandbox(Limits(tmpfs_bytes=tmpfs_bytes), "serve", "", iso)
            except Exception:
                time.sleep(1)  # checks start their own sandboxes meanwhile, and report the failure
                continue
            with self.wakeup:
                self.idle.setdefault(key, []).append(box)

    def close_all(self) -> None:
        with self.wakeup:
            boxes = [box for ready in self.idle.values() for box in ready]
            self.idle.clear()
            self.wakeup.notify_all()
        for box in boxes:
            box.close()


_PRESTARTED = _Prestarted(int(os.environ.get("PASSUNTIL_PRESTART", "2")))  # 0: start each sandbox on demand


def run_program(code: str, limits: Limits = Limits()) -> CheckResult:
    """Run a whole program in the sandbox; passed means exit status 0 within every limit.
    (Code checks of tasks use the supervisor instead: a clean exit is not a pass there.)"""
    start = time.perf_counter()
    status, returncode, reason = "failed", None, ""
    with Sandbox.fresh(limits, "program") as box:
        try:
            box.send_program(code)
            returncode = box.wait_exit()
            status = "passed" if returncode == 0 else "failed"
            reason = "" if returncode == 0 else f"exit status {returncode}"
        except SandboxTimeout as err:
            status, reason = "timeout", str(err)
        except SandboxClosed as err:
            reason = str(err)
    return CheckResult(status == "passed", status, returncode, box.output_text(), "",
                       time.perf_counter() - start, reason + box.output_note(), box.iso.level)
