"""A host uid of its own for every sandbox that runs at once (when the caller is root).

The kernel keeps some budgets per user, not per process: RLIMIT_NPROC counts all of a uid's tasks, and pipe
pages, inotify instances and in-flight descriptors are per-user too. Checks that all ran as `nobody` shared
them, so one check could starve the others (or a neighbour's fork fail). Each sandbox takes a uid from
[BASE, BASE + COUNT), far above the ranges distributions hand out (login users below 60000, subordinate
ranges from 100000 in steps of 65536), held by an exclusive lock on a file in LOCK_DIR for as long as the
sandbox lives, so parallel checks in other processes never share one either. Not root: the caller's uid.
"""
from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

BASE = 3_900_000
COUNT = 4096
LOCK_DIR = Path("/run/passuntil-uids")
_lock = threading.Lock()
_next = [0]


class UidLease:
    """One uid, held until release()."""

    def __init__(self, uid: int, fd: int | None):
        self.uid, self._fd = uid, fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


def lease() -> UidLease | None:
    """A free uid from the range (None when not root, or when every uid of the range is taken)."""
    if os.getuid() != 0:
        return None
    LOCK_DIR.mkdir(mode=0o700, exist_ok=True)
    for _ in range(COUNT):
        with _lock:
            k = _next[0]
            _next[0] = (k + 1) % COUNT
        uid = BASE + (os.getpid() * 7 + k) % COUNT  # processes start at different points of the range
        fd = os.open(LOCK_DIR / str(uid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return UidLease(uid, fd)
    return None
