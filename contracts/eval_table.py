"""The eval table: a tidy CSV, one row per (checkpoint, task, metric), written by `emergent eval`.

Columns, in order (CONTRACTS.md):
run, checkpoint, step, params, tokens, loss, task, metric, value, stderr, random_baseline, higher_is_better,
limit, num_fewshot, task_version, lm_eval_version
- random_baseline: the metric's chance value on the metric's own row (empty when none is defined);
- higher_is_better: "true"/"false" as lm-eval declares it for the metric;
- limit: empty for a full run, else the --limit that produced the row (such rows must not pass for full ones).
Old tables (the first eleven columns only) still read: missing columns come back empty.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

from contracts.atomic import write_text_atomic
from contracts.errors import DataError

COLUMNS = ["run", "checkpoint", "step", "params", "tokens", "loss", "task", "metric", "value", "stderr",
           "random_baseline", "higher_is_better", "limit", "num_fewshot", "task_version", "lm_eval_version"]
REQUIRED = COLUMNS[:9]  # what every eval table, old or new, has


class EvalTableError(DataError):
    pass


def read_eval_table(path: str | Path, missing_ok: bool = False) -> list[dict]:
    """Rows as dicts with every column of COLUMNS (absent columns of old tables read as "")."""
    path = Path(path)
    if not path.is_file():
        if missing_ok:
            return []
        raise EvalTableError(f"{path} does not exist; `emergent eval ... --table {path}` writes it")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = list(reader.fieldnames or [])
        rows = list(reader)
    lacking = [c for c in REQUIRED if c not in header]
    if lacking:
        raise EvalTableError(f"{path} is not an eval table: it lacks the column(s) {', '.join(lacking)}")
    return [{c: (row.get(c) or "") for c in COLUMNS} | {k: v for k, v in row.items() if k not in COLUMNS and k}
            for row in rows]


def write_eval_table(path: str | Path, rows: list[dict]) -> None:
    """The whole table, atomically, in the contract's column order."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows({c: _cell(row.get(c, "")) for c in COLUMNS} for row in rows)
    write_text_atomic(path, buffer.getvalue())


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def limit_label(limit) -> str:
    """The table's spelling of a --limit: "" for a full run, else the number as given (10, 0.5)."""
    if limit is None or limit == "":
        return ""
    value = float(limit)
    return str(int(value)) if value == int(value) and value >= 1 else repr(value)


def append_eval_rows(path: str | Path, rows: list[dict], warn=None) -> list[dict]:
    """Add rows to the table (rewritten atomically). A row whose checkpoint and task already have rows
    under another limit is kept, and `warn` is told: the limit column tells the two apart."""
    existing = read_eval_table(path, missing_ok=True)
    before: dict[tuple, set] = {}
    for row in existing:
        before.setdefault((row["run"], row["checkpoint"], row["task"]), set()).add(row["limit"])
    mixed = set()
    for row in rows:
        key = (row["run"], row["checkpoint"], row["task"])
        other = before.get(key, set()) - {_cell(row.get("limit", ""))}
        if other and key not in mixed:
            mixed.add(key)
            if warn is not None:
                shown = ", ".join(sorted(f"limit {x}" if x else "a full run" for x in other))
                mine = f"limit {row['limit']}" if row.get("limit") else "a full run"
                warn(f"warning: {path}: {key[0]}/{key[1]} {key[2]} already has rows from {shown}; "
                     f"appending rows from {mine} (the limit column tells them apart)")
    existing.extend(rows)
    write_eval_table(path, existing)
    return existing


def check_limits(rows: list[dict], source: str = "the eval table") -> None:
    """Refuse (one-line EvalTableError) rows that mix limited and full evaluations, or different limits,
    of one task and metric: a fit over them would compare scores over different item sets."""
    seen: dict[tuple[str, str], set[str]] = {}
    for row in rows:
        seen.setdefault((row.get("task", ""), row.get("metric", "")), set()).add(str(row.get("limit") or ""))
    for (task, metric), limits in sorted(seen.items()):
        if len(limits) > 1:
            shown = ", ".join(sorted(f"limit={x}" if x else "full" for x in limits))
            raise EvalTableError(f"{source}: {task}/{metric} mixes rows from different evaluations ({shown}); "
                                 "keep one kind (filter on the limit column) or rerun `emergent eval` without --limit")
