"""Atomic file writes (a reader, or a resumed run, never sees a half-written file) and the one JSONL
reader and appender: tolerant of a torn last line in our own logs, strict (file:line) for the inputs users give us.
"""
from __future__ import annotations

import gzip
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from contracts.errors import DataError, InputError


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text_atomic(path: str | Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise OSError(err.errno, err.strerror, str(path)) from None  # the path the user gave, not the temporary
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _cut_torn_tail(path: Path) -> None:
    """A killed writer can leave a last line without its newline; cut it so the next append starts clean."""
    if not path.is_file():
        return
    with open(path, "r+b") as fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return
        data = path.read_bytes()
        fh.truncate(data.rfind(b"\n") + 1)
        fh.flush()
        os.fsync(fh.fileno())


def _line(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False) + "\n"


class JsonlAppender:
    """An append-only JSONL log, fsynced line by line: a kill leaves at most a torn last line, which the
    next appender cuts off and readers skip. The one writer of every log we append to."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _cut_torn_tail(self.path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def write(self, record: dict) -> None:
        """One whole line or none: a write that fails (a full disk) is cut back, so no torn record is left."""
        data = _line(record).encode("utf-8")
        start = os.lseek(self._fd, 0, os.SEEK_END)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
            os.fsync(self._fd)
        except OSError as err:
            os.ftruncate(self._fd, start)
            raise OSError(err.errno, err.strerror, str(self.path)) from None

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def append_jsonl(path: str | Path, record: dict) -> None:
    """Append one line and fsync it (an appender opened for one record)."""
    with JsonlAppender(path) as log:
        log.write(record)


def read_file_bytes(path: Path, error: type[Exception], hint: str) -> bytes:
    """A file's bytes (decompressed for a .gz name); one that cannot be read raises `error` naming it and
    ending with `hint` (what to give instead)."""
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as fh:
            return fh.read()
    except (OSError, EOFError) as err:  # gzip's BadGzipFile is an OSError
        raise error(f"{path} cannot be read ({err}); {hint}") from None


def last_nonblank(lines) -> int:
    """The number (from 1) of the last non-blank line, 0 if none: the one line a killed writer can tear."""
    return max((n for n, line in enumerate(lines, 1) if line.strip()), default=0)


def iter_jsonl(path: str | Path, strict: bool = True, skipped: list[str] | None = None) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every non-blank line of a JSONL file (.gz read transparently).

    strict: a line that is not a JSON object stops here with file:line. Not strict (our own append-only
    logs): only the LAST line may be torn by a killed writer and is skipped (noted in `skipped`); a bad
    line before it is an error.
    """
    path = Path(path)
    hint = "give a JSONL file, one object a line"
    raw = read_file_bytes(path, DataError, hint)
    try:
        lines = raw.decode("utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise DataError(f"{path} is not UTF-8 text (byte {err.start}); {hint}") from None
    last = last_nonblank(lines)
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            if not strict and n == last:
                if skipped is not None:
                    skipped.append(f"{path}:{n}: torn last line (a killed writer)")
                return
            raise DataError(f"{path}:{n} is not valid JSON ({err.msg}); fix or remove that line") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}:{n} holds a JSON {type(row).__name__}, not an object; each line must be one object")
        yield n, row


def read_jsonl(path: str | Path) -> list[dict]:
    """Our own append-only logs (metrics, checkpoints, records): a missing file is empty, a torn last line skipped."""
    path = Path(path)
    if not path.exists():
        return []
    return [row for _, row in iter_jsonl(path, strict=False)]


def read_jsonl_strict(path: str | Path) -> list[dict]:
    """Rows of an input file (a dataset, not a log): a bad line is the user's to fix, so it stops here."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    return [row for _, row in iter_jsonl(path, strict=True)]


def write_jsonl_atomic(path: str | Path, records: list[dict]) -> None:
    write_text_atomic(path, "".join(_line(r) for r in records))


def replace_dir_atomic(tmp_dir: Path, final_dir: Path) -> None:
    """Move a fully written temporary directory into place; an existing target is replaced."""
    if final_dir.exists():
        trash = final_dir.with_name(f".{final_dir.name}.old")
        shutil.rmtree(trash, ignore_errors=True)
        os.replace(final_dir, trash)
        os.replace(tmp_dir, final_dir)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp_dir, final_dir)
    _fsync_dir(final_dir.parent)


def check_output_path(path: str | Path, option: str = "--out") -> Path:
    """Refuse, before anything is created, an output path that cannot be written: a control character in
    its name, or an existing ancestor that is a file or not writable. Returns the path."""
    path = Path(path)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in str(path)):
        raise InputError(f"{option} {str(path)!r} holds a control character; choose a plain path")
    ancestor = path.absolute()
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if ancestor != path.absolute() and not ancestor.is_dir():
        raise InputError(f"{option} {path}: {ancestor} is not a directory; choose a path under a directory")
    if ancestor != path.absolute() and not os.access(ancestor, os.W_OK | os.X_OK):
        raise InputError(f"{option} {path}: {ancestor} is not writable; choose a path you can write")
    if ancestor != path.absolute():  # root passes os.access everywhere: /proc, /sys or a read-only mount still refuse
        try:
            os.rmdir(tempfile.mkdtemp(prefix=".emergent-probe-", dir=ancestor))
        except OSError as err:
            raise InputError(f"{option} {path}: nothing can be created under {ancestor} ({err.strerror}); "
                             "choose a path on a writable filesystem") from None
    return path


def clean_stale_temporaries(directory: str | Path, name: str | None = None, recursive: bool = False) -> list[Path]:
    """Remove what interrupted atomic writes left in `directory`: hidden `.NAME.*.tmp` files and `.NAME.tmp`
    directories (only those of `name` when given: a directory we do not own), in its subfolders too when
    `recursive` (an output folder that is all ours: a study, a ladder, a run). Only a kill leaves them; call when
    a job starts, holding its output's lock, before writing."""
    directory = Path(directory)
    removed: list[Path] = []
    if not directory.is_dir():
        return removed
    patterns = [f".{name}.*.tmp", f".{name}.tmp"] if name else [".*.tmp"]
    glob = directory.rglob if recursive and not name else directory.glob
    for stale in sorted({p for pattern in patterns for p in glob(pattern)}, key=lambda p: len(p.parts)):
        if not stale.exists() and not stale.is_symlink():  # inside a temporary directory removed just before
            continue
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
        removed.append(stale)
    return removed
