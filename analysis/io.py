"""Reading the contract files (eval table, checkpoints.jsonl, PassUntil JSONL) or anyone's CSV.

Column names are options, so a public table (model size, tokens, final loss) fits as well as ours.
"""
from __future__ import annotations

import csv
from pathlib import Path

from contracts import atomic, eval_table

from analysis.results import AnalysisError


def read_csv(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise AnalysisError(f"{path} does not exist")
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def read_jsonl(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise AnalysisError(f"{path} does not exist")
    return atomic.read_jsonl(path)


def read_table(path: str | Path) -> list[dict]:
    """CSV, JSONL, or a run directory (its checkpoints.jsonl). An eval table is read by its contract's
    reader (contracts.eval_table), so an old one gains the newer columns, empty."""
    path = Path(path)
    if path.is_dir():
        return read_jsonl(path / "checkpoints.jsonl")
    if path.suffix == ".jsonl":
        return read_jsonl(path)
    rows = read_csv(path)
    if rows and all(column in rows[0] for column in eval_table.REQUIRED):
        return eval_table.read_eval_table(path)
    return rows


def column(rows: list[dict], name: str, source: str, cast=float) -> list:
    if not rows:
        raise AnalysisError(f"{source} has no rows")
    if name not in rows[0]:
        raise AnalysisError(f"{source} has no column {name!r} (columns: {', '.join(rows[0])}); "
                            f"name the right one with the matching --*-col option")
    out = []
    for i, row in enumerate(rows):
        value = row.get(name)
        try:
            out.append(cast(value))
        except (TypeError, ValueError):
            raise AnalysisError(f"{source} row {i + 1}: column {name!r} holds {value!r}, not a number") from None
    return out
