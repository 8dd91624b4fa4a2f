"""The eval table: a tidy CSV, one row per (checkpoint, task, metric), written by `emergent eval`.

Columns, in order (docs/CONTRACTS.md):
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


NUMERIC = ("value",)  # every row has a finite number here
# Empty (unknown: a checkpoint that records no loss or size, a metric without a stderr) or a finite number.
OPTIONAL_NUMERIC = ("step", "params", "tokens", "loss", "stderr", "random_baseline")
WHERE = "__where__"  # each row read carries "file:line" under this key, for the fits' own messages


def _row_problem(row: dict) -> str | None:
    """Why a row of an eval table cannot be trusted, or None."""
    if None in row:
        return f"has {len(row[None])} field(s) more than the header (an unquoted comma?)"
    missing = [c for c in REQUIRED if row.get(c) is None]
    if missing:
        return f"has fewer fields than the header (a truncated row?): {', '.join(missing)} missing"
    spans = [c for c, v in row.items() if isinstance(v, str) and "\n" in v]
    if spans:
        return f"column {spans[0]!r} runs over {row[spans[0]].count(chr(10)) + 1} lines (a quote that is never closed?)"
    for c in ("run", "checkpoint", "task", "metric"):
        if not row.get(c):
            return f"column {c!r} is empty"
    for c in NUMERIC + OPTIONAL_NUMERIC:
        value = row.get(c) or ""
        if value == "" and c in OPTIONAL_NUMERIC:
            continue
        try:
            number = float(value)
        except ValueError:
            return f"column {c!r} holds {value[:40]!r}, not a number"
        if number != number or number in (float("inf"), float("-inf")):
            return f"column {c!r} is {value}"
    return None


def read_eval_table(path: str | Path, missing_ok: bool = False, drop_invalid: bool = False,
                    dropped: list[str] | None = None) -> list[dict]:
    """Rows as dicts with every column of COLUMNS (absent columns of old tables read as ""), each checked: a row
    with too many or too few fields, a field a stray quote ran over several lines, an empty key or a value that is
    not a finite number stops the read with file:line, unless drop_invalid (then it is left out and `dropped`
    gets "file:line: why")."""
    path = Path(path)
    if not path.is_file():
        if missing_ok:
            return []
        raise EvalTableError(f"{path} does not exist; `emergent eval ... --table {path}` writes it")
    rows, bad = [], []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = list(reader.fieldnames or [])
        lacking = [c for c in REQUIRED if c not in header]
        if lacking:
            raise EvalTableError(f"{path} is not an eval table: it lacks the column(s) {', '.join(lacking)}")
        start = reader.line_num + 1
        for row in reader:
            problem = _row_problem(row)
            if problem:
                bad.append(f"{path}:{start}: {problem}")
            else:
                rows.append({c: (row.get(c) or "") for c in COLUMNS}
                            | {k: v for k, v in row.items() if k not in COLUMNS and k} | {WHERE: f"{path}:{start}"})
            start = reader.line_num + 1
    if bad and not drop_invalid:
        raise EvalTableError(f"{bad[0]}; {len(bad)} of {len(bad) + len(rows)} row(s) are invalid; repair or remove "
                             "them (the fit commands take --drop-invalid to leave them out)")
    if dropped is not None:
        dropped += bad
    return rows


def write_eval_table(path: str | Path, rows: list[dict]) -> None:
    """The whole table, atomically, in the contract's column order."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n", extrasaction="ignore")  # WHERE stays out
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
