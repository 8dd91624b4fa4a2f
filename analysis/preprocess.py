"""What a researcher does to real logs before fitting: several files and globs, a row filter, dropping
the first part of each run, smoothing over neighbouring checkpoints, or averaging the last K."""
from __future__ import annotations

import glob
import math
import operator
import re
from collections import defaultdict

from analysis.results import AnalysisError
from contracts import eval_table

OPS = {"==": operator.eq, "!=": operator.ne, "<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}
_WHERE = re.compile(r"^\s*([^\s=!<>]+)\s*(==|!=|<=|>=|<|>)\s*(.*?)\s*$")


def expand_paths(paths) -> list[str]:
    """Paths as given, with shell-style globs expanded (sorted); a glob that matches nothing is an error."""
    out = []
    for path in paths:
        if any(ch in str(path) for ch in "*?["):
            matches = sorted(glob.glob(str(path)))
            if not matches:
                raise AnalysisError(f"{path} matches no file; check the pattern (quote it so the shell leaves it to us)")
            out += matches
        else:
            out.append(str(path))
    return out


def parse_where(expr: str):
    match = _WHERE.match(expr)
    if not match:
        raise AnalysisError(f"--where {expr!r}: write 'column op value' with op one of {', '.join(OPS)}")
    return match.group(1), OPS[match.group(2)], match.group(3).strip("'\"")


def _compare(cell, op, value) -> bool:
    try:
        return op(float(cell), float(value))
    except (TypeError, ValueError):
        return op(str(cell), value)


def filter_rows(rows: list[dict], wheres) -> list[dict]:
    """Rows meeting every --where condition."""
    for expr in wheres or ():
        col, op, value = parse_where(expr)
        if rows and col not in rows[0]:
            shown = ", ".join(c for c in rows[0] if c != eval_table.WHERE)
            raise AnalysisError(f"--where {expr!r}: no column {col!r} (columns: {shown})")
        rows = [r for r in rows if _compare(r.get(col), op, value)]
    if wheres and not rows:
        raise AnalysisError(f"--where {' and '.join(wheres)} keeps no row")
    return rows


def _groups(rows, keys):
    groups = defaultdict(list)
    for row in rows:
        groups[tuple(row.get(k) for k in keys)].append(row)
    return groups


def per_run(rows: list[dict], value_cols, skip_first: float = 0.0, smooth: int = 1, last: int = 0,
            keys=("run", "task", "metric")) -> list[dict]:
    """Each run's series (per task and metric), ordered by step: drop its first `skip_first` fraction
    of checkpoints, then a centred moving average over `smooth` neighbours, then (last > 0) one row
    holding the mean of its last `last` evaluations (at the last checkpoint's step and tokens)."""
    if not 0 <= skip_first < 1:
        raise AnalysisError(f"--skip-first {skip_first}: give a fraction in [0, 1)")
    if smooth < 1 or last < 0:
        raise AnalysisError("--smooth K needs K >= 1 and --last K needs K >= 0")
    if skip_first == 0 and smooth == 1 and last == 0:
        return rows
    out = []
    for _, series in _groups(rows, keys).items():
        series = sorted(series, key=lambda r: float(r.get("step") or 0))
        series = series[math.floor(skip_first * len(series)):] or series[-1:]
        if smooth > 1:
            half = smooth // 2
            smoothed = []
            for i, row in enumerate(series):
                window = series[max(0, i - half): i + half + 1]
                smoothed.append({**row, **{c: sum(float(w[c]) for w in window) / len(window) for c in value_cols}})
            series = smoothed
        if last:
            tail = series[-last:]
            series = [{**tail[-1], **{c: sum(float(w[c]) for w in tail) / len(tail) for c in value_cols}}]
        out += series
    return out


def check_limits(rows: list[dict]) -> None:
    """Refuse a fit that mixes --limit'ed and full evaluations of one task and metric (the contract's check,
    raised as the fit's own error)."""
    try:
        eval_table.check_limits(rows, source="the fit's rows")
    except eval_table.EvalTableError as err:
        raise AnalysisError(f"{err}; in a fit, --where 'limit == ' keeps the full rows") from err
