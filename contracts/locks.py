"""One writer per output: an exclusive lock held for as long as a job appends to a file or fills a directory.

Two `passuntil run` on one --out did the work twice; two `emergent eval` on one --table doubled its rows, and one
paused before its rename while another appended lost the other's rows (read-modify-rename without a lock). Now
the second writer is refused at once, with one line naming the holder's pid and host.

The lock is `flock(2)` on a file beside the output (`.NAME.lock` for a file, `DIR/.lock` for a directory) holding
"pid host started". The kernel drops it when its holder dies, however it dies, so a stale lock never blocks: the
next writer takes it over and says whose it was. Local disks: exact. NFS: Linux maps flock onto NFS byte-range
locks (since 2.6.12), which hold between clients if the server's lock manager runs; where it does not (some
`nolock` mounts) the lock is only local to each machine, so do not point jobs on two machines at one output there.
A process may take a lock it already holds (the study, then the eval it runs, on one table): it is counted.
"""
from __future__ import annotations

import fcntl
import os
import socket
import threading
import time
from pathlib import Path

from contracts.errors import InputError


class OutputLocked(InputError):
    """Another live process writes this output."""


_held: dict[str, list] = {}  # lock path -> [descriptor, count]
_guard = threading.Lock()


def lock_path(target: str | Path) -> Path:
    target = Path(target)
    if target.is_dir() or not target.suffix:  # a directory, or one about to be made
        return target / ".lock"
    return target.with_name(f".{target.name}.lock")


def _holder(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 512).decode("utf-8", "replace").strip()


class OutputLock:
    """`with OutputLock(path, log=print):` holds the lock of `path` for the block."""

    def __init__(self, target: str | Path, log=None):
        self.target, self.path, self.log = Path(target), lock_path(target), log

    def __enter__(self) -> OutputLock:
        key = str(self.path.absolute())
        with _guard:
            if key in _held:
                _held[key][1] += 1
                return self
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd) or "another process"
                os.close(fd)
                pid, _, rest = holder.partition(" ")
                host = rest.split(" ")[0] if rest else "?"
                raise OutputLocked(f"{self.target} is being written by pid {pid} on {host} (lock {self.path}); wait for "
                                   "it to finish or stop it, then re-run the same command") from None
            previous = _holder(fd)
            if previous and self.log is not None:
                self.log(f"note: took over the lock of {self.target} from pid {previous.split(' ')[0]} (it ended "
                         "without releasing it)")
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            try:  # who holds it, for the message a second writer gets
                os.write(fd, f"{os.getpid()} {socket.gethostname()} {time.strftime('%Y-%m-%dT%H:%M:%S')}\n".encode())
            except OSError as err:  # a full disk: name the lock, not "an output file"
                os.close(fd)
                raise OSError(err.errno, err.strerror, str(self.path)) from None
            _held[key] = [fd, 1]
        return self

    def __exit__(self, *exc) -> None:
        key = str(self.path.absolute())
        with _guard:
            entry = _held.get(key)
            if entry is None:
                return
            entry[1] -= 1
            if entry[1] == 0:
                os.ftruncate(entry[0], 0)  # an empty lock file: nobody holds it (the file stays: no unlink race)
                os.close(entry[0])
                del _held[key]
