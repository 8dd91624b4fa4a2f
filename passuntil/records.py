"""PassUntil records: append-only JSONL, one line per finished instance, fsynced line by line.

The schema, the writer and the reader live in contracts.records (every stage reads the same contract).
A kill can leave at most a torn last line; opening the file for appending first cuts it off, so the
file always holds whole records and a re-run resumes from them.
"""
from __future__ import annotations

from pathlib import Path

from contracts import records as contract
from contracts.records import RecordWriter

__all__ = ["RecordWriter", "read_records"]


def read_records(path: str | Path) -> list[dict]:
    """Every whole record of our own file (a missing file has none); a torn last line is skipped."""
    if not Path(path).is_file():
        return []
    return contract.read_records(path).records
