"""Forward-chained backtest of the task-law forecast: predict each size of a ladder from all smaller ones.

A ladder is one task's records across the files given, when no (instance, size) repeats; where one does (one
file per checkpoint, each holding every size, as in Pythia's suite), each file is its own ladder. For every
target with at least `min_smaller` smaller sizes the forecast is fitted on the smaller sizes alone, its
extrapolation error learnt from those sizes of every ladder (what was known before the target trained), and
compared with the target's measured mean PU. Hu et al.'s dataset-level line, fitted on the same sizes, is
measured beside it.
"""
from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from analysis.results import AnalysisError
from analysis.task_law_forecast import by_size, fit_forecast, ladder_errors, measured_mean, _line

LEVELS = (0.9, 0.95)


def split_ladders(files: list[tuple[str, list[dict]]]) -> dict[str, list[dict]]:
    """ladder name -> records: one per task, or one per (task, file) where a task's files repeat an instance size."""
    by_task: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    for path, records in files:
        for rec in records:
            by_task[str(rec["task"])].append((path, rec))
    ladders: dict[str, list[dict]] = {}
    for task, tagged in sorted(by_task.items()):
        keys = [(str(r["instance_id"]), float(r["params"])) for _, r in tagged]
        if len(set(keys)) == len(keys):
            ladders[task] = [r for _, r in tagged]
            continue
        for path in sorted({p for p, _ in tagged}):
            ladders[f"{task}@{Path(path).name}"] = [r for p, r in tagged if p == path]
    return ladders


def backtest(files: list[tuple[str, list[dict]]], min_smaller: int = 3, progress=None) -> dict:
    """Every forward-chained step of every ladder: forecast, line baseline and measurement."""
    if min_smaller < 3:
        raise AnalysisError(f"--min-smaller {min_smaller}: a forecast needs at least 3 smaller sizes")
    ladders = split_ladders(files)
    errors = {name: ladder_errors(recs, ladder=name) for name, recs in ladders.items()}
    steps, skipped = [], []
    todo = [(name, recs, k) for name, recs in ladders.items() for k in range(min_smaller, len(by_size(recs)))]
    if not todo:
        counts = {name: len(by_size(recs)) for name, recs in ladders.items()}
        raise AnalysisError(f"no ladder has a size with {min_smaller} smaller ones (sizes per ladder: {counts}); "
                            "add model sizes or lower --min-smaller")
    for i, (name, recs, k) in enumerate(todo):
        sizes_recs = by_size(recs)
        sizes = list(sizes_recs)
        target = sizes[k]
        fit_recs = [r for n in sizes[:k] for r in sizes_recs[n]]
        actual = measured_mean(sizes_recs[target])
        others = [e for other, errs in errors.items() if other != name for e in errs]
        own = [e for e in errors[name] if e.size < target]
        try:
            forecast = fit_forecast(fit_recs, name, pooled_errors=others, own_errors=own)
            pred = forecast.predict(target, LEVELS)
        except AnalysisError as err:
            skipped.append(f"{name} N={target:.4g}: {err}")
            continue
        line = _line({n: sizes_recs[n] for n in sizes[:k]}, target)
        steps.append({"ladder": name, "target": target, "n_smaller": k, "actual": actual, "method": forecast.method,
                      "estimate": pred["estimate"], "intervals": pred["intervals"], "df": forecast.df,
                      "scale": forecast.scale, "line": line[0] if line else None})
        if progress:
            progress(i + 1, len(todo))
    return {"steps": steps, "skipped": skipped, "summary": summarise(steps)}


def _log_ratio(pred, actual):
    return abs(math.log(pred / actual)) if pred and actual and pred > 0 and actual > 0 else None


def summarise(steps: list[dict]) -> dict:
    if not steps:
        return {"n": 0}
    out: dict = {"n": len(steps)}
    for level in LEVELS:
        key = f"{level:g}"
        inside = [s["intervals"][key][0] <= s["actual"] <= s["intervals"][key][1] for s in steps]
        width = [s["intervals"][key][1] / s["intervals"][key][0] for s in steps if s["intervals"][key][0] > 0]
        out[f"coverage_{key}"] = float(np.mean(inside))
        out[f"median_width_{key}"] = float(np.median(width)) if width else math.inf
    out["estimate_inside"] = float(np.mean([s["intervals"][f"{min(LEVELS):g}"][0] <= s["estimate"]
                                            <= s["intervals"][f"{min(LEVELS):g}"][1] for s in steps]))
    ours = [v for v in (_log_ratio(s["estimate"], s["actual"]) for s in steps) if v is not None]
    line = [v for v in (_log_ratio(s["line"], s["actual"]) for s in steps) if v is not None]
    out["median_abs_log_ratio"] = float(np.median(ours)) if ours else None
    out["median_abs_log_ratio_line"] = float(np.median(line)) if line else None
    out["n_line"] = len(line)
    out["methods"] = {m: sum(s["method"] == m for s in steps) for m in sorted({s["method"] for s in steps})}
    return out


def format_backtest(result: dict) -> str:
    from contracts.table import format_table

    head = ["ladder", "target N", "fit sizes", "predictor", "predicted", "90% interval", "95% interval", "actual",
            "pred/actual", "in 90%", "in 95%", "line pred/actual"]
    cells = []
    for s in result["steps"]:
        i90, i95 = s["intervals"]["0.9"], s["intervals"]["0.95"]
        cells.append([s["ladder"][:28], f"{s['target']:.4g}", str(s["n_smaller"]), s["method"], f"{s['estimate']:.4g}",
                      f"[{i90[0]:.4g}, {i90[1]:.4g}]", f"[{i95[0]:.4g}, {i95[1]:.4g}]", f"{s['actual']:.4g}",
                      f"{s['estimate'] / s['actual']:.3g}" if s["actual"] > 0 else "inf",
                      "yes" if i90[0] <= s["actual"] <= i90[1] else "no", "yes" if i95[0] <= s["actual"] <= i95[1] else "no",
                      f"{s['line'] / s['actual']:.3g}" if s["line"] and s["actual"] > 0 else "-"])
    m = result["summary"]
    lines = [format_table(head, cells, align="lrrl" + "r" * 8)] if cells else []
    if m["n"]:
        lines.append(
            f"{m['n']} step(s): 90% intervals cover {m['coverage_0.9']:.0%} (median width upper/lower "
            f"{m['median_width_0.9']:.3g}), 95% cover {m['coverage_0.95']:.0%} (median width {m['median_width_0.95']:.3g}); "
            f"estimate inside its interval in {m['estimate_inside']:.0%}")
        line = m["median_abs_log_ratio_line"]
        lines.append(f"median |log(predicted/actual)|: forecast {m['median_abs_log_ratio']:.3g}, Hu et al.'s dataset-level "
                     f"line {line:.3g}" if line is not None else
                     f"median |log(predicted/actual)|: forecast {m['median_abs_log_ratio']:.3g} (the line could not predict)")
        lines.append("predictors chosen: " + ", ".join(f"{k} {v}" for k, v in m["methods"].items()))
    for why in result["skipped"]:
        lines.append(f"skipped {why}")
    return "\n".join(lines)
