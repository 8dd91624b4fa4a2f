"""Which operating-system walls a code check gets on this machine, found by measurement.

Levels, strongest first:
- `bwrap`: bubblewrap, started as an unprivileged HOST uid (nobody, 65534) from the caller's uid via
  Popen(user=...) (no preexec_fn): new user (nested ones disabled), mount, PID, network, IPC, UTS and
  cgroup namespaces; a read-only view of /usr (and the interpreter's prefix) only; a private tmpfs of
  bounded size as the only writable place; a cleared environment; the PID namespace dies with it.
- `process`: no namespaces (bubblewrap missing or user namespaces refused by the kernel): a separate
  process in its own session, as nobody when the caller is root, with rlimits and the audit hook only.
  It does not hide files, the network or other processes; it is refused unless the user allows it.

The level is probed once per process (a real sandboxed interpreter is started) and cached.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

from contracts.errors import InputError
from passuntil import seccomp

NOBODY = 65534
BWRAP = "bwrap"
PROCESS = "process"
# The interpreter inside the sandbox needs only its own files; these are the candidates, first that works wins.
SYSTEM_PYTHONS = ("/usr/bin/python3",)


class IsolationError(InputError):
    """No sandbox of the required level can run here; the message names the fix."""


@dataclass(frozen=True)
class Isolation:
    level: str  # BWRAP | PROCESS
    python: str  # the interpreter that runs generated code
    python_version: str
    uid: int | None  # host uid the check runs as (None: the caller's own)
    binds: tuple[str, ...] = ()  # host directories bound read-only
    bwrap: str | None = None
    seccomp: bool = False  # a seccomp filter (passuntil/seccomp.py) narrows the system calls
    reason: str = ""  # why a weaker level is in force
    notes: tuple[str, ...] = field(default_factory=tuple)

    def describe(self) -> str:
        who = f"uid {self.uid}" if self.uid is not None else f"the caller's uid {os.getuid()}"
        if self.level == BWRAP:
            filtered = "a seccomp filter" if self.seccomp else "NO seccomp filter (not x86-64)"
            return (f"isolation level bwrap: {self.python} (Python {self.python_version}) as host {who} in new "
                    f"user/mount/pid/net/ipc namespaces, read-only {', '.join(self.binds)}, private bounded tmpfs, "
                    f"{filtered}")
        filtered = "the seccomp filter" if self.seccomp else "NO seccomp filter"
        return (f"isolation level process (WEAK: no namespaces; {self.reason}): {self.python} as {who} with "
                f"rlimits, {filtered} and an audit hook only; files, network and other processes are NOT hidden")


def unprivileged_popen_args() -> dict:
    """Popen arguments that run the child as nobody when we are root (done by Popen itself, not preexec_fn)."""
    if os.getuid() == 0:
        return {"user": NOBODY, "group": NOBODY, "extra_groups": []}
    return {}


def bwrap_argv(iso: Isolation, tmpfs_bytes: int, seccomp_fd: int | None = None) -> list[str]:
    """bubblewrap's command line up to (not including) the interpreter."""
    if iso.bwrap is None:
        raise ValueError(f"bwrap_argv needs a bubblewrap level; got level {iso.level!r} with no bwrap binary")
    argv = [] if seccomp_fd is None else ["--seccomp", str(seccomp_fd)]
    argv = [iso.bwrap, *argv, "--unshare-user", "--disable-userns", "--unshare-pid", "--unshare-net", "--unshare-ipc",
            "--unshare-uts", "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--clearenv"]
    for path in iso.binds:
        argv += ["--ro-bind", path, path]
    for link in ("bin", "lib", "lib64", "sbin"):
        if os.path.islink(f"/{link}"):
            argv += ["--symlink", os.readlink(f"/{link}"), f"/{link}"]
        elif os.path.isdir(f"/{link}") and f"/{link}" not in iso.binds:
            argv += ["--ro-bind", f"/{link}", f"/{link}"]
    # /dev read-only too: its shm directory would otherwise be a writable tmpfs without a size bound.
    argv += ["--proc", "/proc", "--dev", "/dev", "--remount-ro", "/dev", "--size", str(tmpfs_bytes), "--tmpfs", "/tmp",
             "--chdir", "/tmp", "--remount-ro", "/"]
    return argv


def child_env(home: str) -> dict:
    return {"PATH": "/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8", "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1"}


def _env_args(env: dict) -> list[str]:
    out: list[str] = []
    for key, value in env.items():
        out += ["--setenv", key, value]
    return out


def _python_binds(python: str) -> tuple[str, ...]:
    real = os.path.realpath(python)
    binds = ["/usr"]
    prefix = os.path.dirname(os.path.dirname(real))  # .../bin/python3 -> ...
    if not (prefix == "/usr" or prefix.startswith("/usr/")):
        binds.append(prefix)
    return tuple(binds)


PROBE = "import os, sys; print(os.getuid(), '%d.%d.%d' % sys.version_info[:3], sum(n.isdigit() for n in os.listdir('/proc')) < 4)"


def _probe_bwrap(bwrap: str, python: str) -> Isolation | None:
    iso = Isolation(BWRAP, os.path.realpath(python), "", NOBODY if os.getuid() == 0 else None,
                    _python_binds(python), bwrap)
    bpf = seccomp.program()
    fd = seccomp.pipe_with(bpf) if bpf else None
    argv = bwrap_argv(iso, 1 << 20, fd) + _env_args(child_env("/tmp")) + [iso.python, "-I", "-S", "-c", PROBE]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20, env={}, pass_fds=() if fd is None else (fd,),
                             **unprivileged_popen_args())
    except (OSError, subprocess.TimeoutExpired):
        return None
    finally:
        if fd is not None:
            os.close(fd)
    fields = out.stdout.split()
    if out.returncode != 0 or len(fields) != 3 or fields[2] != "True":
        return None
    return Isolation(BWRAP, iso.python, fields[1], iso.uid, iso.binds, bwrap, seccomp=bpf is not None)


def _candidates() -> list[str]:
    # The caller's own interpreter first (same version), then system interpreters nobody can read.
    own = os.path.realpath(sys.executable)
    pythons = [own] + [p for p in SYSTEM_PYTHONS if os.path.exists(p) and os.path.realpath(p) != own]
    env_choice = os.environ.get("PASSUNTIL_SANDBOX_PYTHON")
    return [env_choice] if env_choice else pythons


@functools.lru_cache(maxsize=1)
def detect() -> Isolation:
    """Measure the strongest level this machine allows (cached for the process)."""
    bwrap = shutil.which("bwrap")
    reason = "bubblewrap (bwrap) is not installed"
    if bwrap:
        for python in _candidates():
            found = _probe_bwrap(bwrap, python)
            if found:
                return found
        reason = "bwrap could not start a sandboxed interpreter (user namespaces refused?)"
    for python in _candidates():
        found = probe_process(python, reason)
        if found:
            return found
    raise IsolationError("no Python interpreter can run as the unprivileged user; set PASSUNTIL_SANDBOX_PYTHON")


def probe_process(python: str, reason: str) -> Isolation | None:
    """The process level, with the seccomp filter the bootstrap installs itself where it takes (an AF_INET socket
    must then be refused)."""
    from passuntil.sandbox_child import INSTALL_SECCOMP

    bpf = seccomp.program()
    code = "import os, sys; print('%d.%d.%d' % sys.version_info[:3])"
    if bpf is not None:
        code += (f"\n{INSTALL_SECCOMP}\n_filter({bpf!r})\nimport socket\ntry:\n    socket.socket()\n"
                 "except OSError as e:\n    print('filtered' if e.errno == 97 else 'open')\nelse:\n    print('open')")
    try:
        out = subprocess.run([python, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=20,
                             env={}, cwd="/", **unprivileged_popen_args())
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = out.stdout.split()
    if out.returncode != 0 and not lines:
        return None
    filtered = out.returncode == 0 and lines[-1:] == ["filtered"]
    if not filtered and bpf is not None:  # the filter did not take: the check runs without it, and says so
        out = subprocess.run([python, "-I", "-S", "-c", code.split("\n")[0]], capture_output=True, text=True,
                             timeout=20, env={}, cwd="/", **unprivileged_popen_args())
        if out.returncode != 0:
            return None
        lines = out.stdout.split()
    return Isolation(PROCESS, python, lines[0], NOBODY if os.getuid() == 0 else None, seccomp=filtered, reason=reason)


_allowed = {"unisolated": os.environ.get("PASSUNTIL_ALLOW_UNISOLATED") == "1"}


def allow_unisolated(allowed: bool = True) -> None:
    """The user's explicit consent (`passuntil run --allow-unisolated`) to the weak `process` level."""
    _allowed["unisolated"] = allowed


def require(allow: bool | None = None) -> Isolation:
    """The level in force; refuses to run generated code without OS isolation unless explicitly allowed."""
    iso = detect()
    if iso.level != BWRAP and not (_allowed["unisolated"] if allow is None else allow):
        raise IsolationError(f"no OS isolation for generated code: {iso.reason}; install bubblewrap "
                             f"(apt-get install bubblewrap) or pass --allow-unisolated to accept the weak level")
    return iso
