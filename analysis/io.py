"""Reading the contract files (eval table, checkpoints.jsonl, PassUntil JSONL) or anyone's CSV.

Column names are options, so a public table (model size, tokens, final loss) fits as well as ours.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

from contracts import atomic, eval_table

from analysis.results import AnalysisError


def read_csv(path: str | Path) -> list[dict]:
    """Any CSV's rows, each with "file:line" under contracts.eval_table.WHERE for messages."""
    path = Path(path)
    if not path.is_file():
        raise AnalysisError(f"{path} does not exist")
    rows = []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        _ = reader.fieldnames  # reads the header: line numbers below are the file's own
        start = reader.line_num + 1
        for row in reader:
            rows.append({**row, eval_table.WHERE: f"{path}:{start}"})
            start = reader.line_num + 1
    return rows


def read_jsonl(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise AnalysisError(f"{path} does not exist")
    return [{**row, eval_table.WHERE: f"{path} record {i + 1}"} if isinstance(row, dict) else row
            for i, row in enumerate(atomic.read_jsonl(path))]


def read_table(path: str | Path, drop_invalid: bool = False, dropped: list[str] | None = None) -> list[dict]:
    """CSV, JSONL, or a run directory (its checkpoints.jsonl). An eval table is read by its contract's
    reader (contracts.eval_table: every row checked, file:line for the first bad one unless drop_invalid), so
    an old one gains the newer columns, empty."""
    path = Path(path)
    if path.is_dir():
        return read_jsonl(path / "checkpoints.jsonl")
    if path.suffix == ".jsonl":
        return read_jsonl(path)
    if not path.is_file():
        raise AnalysisError(f"{path} does not exist")
    with open(path, newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh), [])
    if all(column in header for column in eval_table.REQUIRED):
        return eval_table.read_eval_table(path, drop_invalid=drop_invalid, dropped=dropped)
    return read_csv(path)


def require_numbers(rows: list[dict], columns, source: str) -> None:
    """Every row's `columns` hold finite numbers; else one line naming the file:line, the column and the value."""
    for i, row in enumerate(rows):
        for name in columns:
            value = row.get(name)
            try:
                number = float(value)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                number = None
            if number is None or not math.isfinite(number):
                where = row.get(eval_table.WHERE) or f"{source} row {i + 1}"
                raise AnalysisError(f"{where}: column {name!r} holds {value!r}, not a finite number; fix the row, or "
                                    "filter it out with --where")


def column(rows: list[dict], name: str, source: str, cast=float) -> list:
    if not rows:
        raise AnalysisError(f"{source} has no rows")
    if name not in rows[0]:
        shown = ", ".join(c for c in rows[0] if c != eval_table.WHERE)
        raise AnalysisError(f"{source} has no column {name!r} (columns: {shown}); "
                            f"name the right one with the matching --*-col option")
    out = []
    for i, row in enumerate(rows):
        value = row.get(name)
        try:
            out.append(cast(value))
        except (TypeError, ValueError):
            raise AnalysisError(f"{source} row {i + 1}: column {name!r} holds {value!r}, not a number") from None
    return out
