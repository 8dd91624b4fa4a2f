"""PassUntil records: append-only JSONL, one line per finished instance, fsynced line by line.

A kill can leave at most a torn last line; opening the file for appending first cuts it off, so the
file always holds whole records and a re-run resumes from them.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from contracts.atomic import read_jsonl


def read_records(path: str | Path) -> list[dict]:
    """Every whole record; a torn last line of a killed run is skipped."""
    return read_jsonl(path)


class RecordWriter:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair()
        self._fh = open(self.path, "a", encoding="utf-8")

    def _repair(self) -> None:
        if not self.path.is_file():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(self.path, "r+b") as fh:
                fh.truncate(data.rfind(b"\n") + 1)
                fh.flush()
                os.fsync(fh.fileno())

    def write(self, record: dict) -> None:
        self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
