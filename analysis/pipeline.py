"""Fit every law from the contract files, and backtest by holding out the largest rung.

Inputs (column names are options of the CLI):
- eval rows: run, checkpoint, step, params, tokens, loss, task, metric, value, random_baseline;
- checkpoint rows (checkpoints.jsonl of runs): params, tokens, val_loss; the loss law uses each run's
  final checkpoint (a run trained to budget D), so it needs several budgets or falls back to L(N);
- PassUntil records: task, instance_id, params, passes, samples, censored, pu_mle, pu_unbiased.
"""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np

from analysis.emergence import EmergenceModel
from analysis.growth_pooling import pool_growth
from analysis.loss_curve import DEFAULT_MARGIN, collapse_test, fit_performance_curve
from analysis.loss_law import LossLawModel, LossVsSizeModel
from analysis.preprocess import check_limits
from analysis.results import AnalysisError, LossLawResults
from analysis.task_law import InstanceTaskLawModel, TaskLawModel, record_pu
from analysis.task_law_forecast import fit_forecasts


def final_checkpoints(checkpoints: list[dict]) -> list[dict]:
    """The last checkpoint of every run (by run name, or by (params) when no run is recorded)."""
    last: dict = {}
    for row in checkpoints:
        key = row.get("run") or row.get("params")
        if key not in last or float(row["step"]) > float(last[key]["step"]):
            last[key] = row
    return list(last.values())


def fit_loss_law(checkpoints: list[dict], n_boot: int = 200) -> LossLawResults:
    finals = final_checkpoints(checkpoints)
    N = np.array([float(r["params"]) for r in finals])
    D = np.array([float(r["tokens"]) for r in finals])
    L = np.array([float(r["val_loss"]) for r in finals])
    runs = [r.get("run") or i for i, r in enumerate(finals)]
    if len(np.unique(D)) >= 2 and len(L) >= 6:
        return LossLawResults.from_fit(LossLawModel(N, D, L, runs=runs, n_boot=n_boot).fit())
    # Too few runs for L(N, D): L(N) at the one budget most sizes share (Du et al.'s fixed-D form).
    budgets, counts = np.unique(D, return_counts=True)
    shared = budgets[counts.argmax()]
    keep = D == shared
    return LossLawResults.from_fit(LossVsSizeModel(N[keep], L[keep], n_boot=n_boot).fit())


def _baselines(rows):
    base = [float(r["random_baseline"]) if r.get("random_baseline") not in (None, "") else None for r in rows]
    return base if any(b is not None for b in base) else None


def _direction(rows, task, metric):
    declared = {str(r.get("higher_is_better") or "").strip().lower() for r in rows}
    if len(declared) > 1:
        raise AnalysisError(f"task {task} ({metric}): rows disagree on higher_is_better ({sorted(declared)})")
    return declared.pop() or None


def fit_loss_curves(eval_rows: list[dict], metrics: list[str] | None = None, model: str = "auto",
                    n_boot: int = 200, margin: float = DEFAULT_MARGIN, progress: bool | None = None) -> dict:
    """One prediction curve per (task, metric) (with its emergence classification), plus the collapse
    test where sizes differ. `progress`: a bar over the task metrics on stderr (None: when stderr is a terminal)."""
    from tqdm import tqdm

    check_limits(eval_rows)
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in eval_rows:
        if metrics is None or row["metric"] in metrics:
            groups[(row["task"], row["metric"])].append(row)
    if not groups:
        raise AnalysisError(f"no eval rows for metrics {metrics}")
    curves, collapse, skipped = {}, {}, {}
    bar = tqdm(sorted(groups.items()), desc=f"fit loss-curve ({n_boot} bootstrap refits each)", unit="metric",
               disable=None if progress is None else not progress, dynamic_ncols=True)
    for (task, metric), rows in bar:
        bar.set_postfix_str(f"{task} {metric}", refresh=False)
        loss = [float(r["loss"]) for r in rows]
        value = [float(r["value"]) for r in rows]
        params = [float(r["params"]) for r in rows]
        runs = [str(r.get("run") or f"N={r['params']},D={r.get('tokens')}") for r in rows]
        baseline, higher, key = _baselines(rows), _direction(rows, task, metric), f"{task}|{metric}"
        try:
            curves[key] = fit_performance_curve(loss, value, baseline, params, runs, metric=metric, task=task,
                                                higher=higher, model=model, n_boot=n_boot)
        except AnalysisError as err:
            skipped[key] = str(err)
            continue
        try:
            collapse[key] = collapse_test(loss, value, params, [float(r["tokens"]) for r in rows], baseline,
                                          metric=metric, task=task, runs=runs, higher=higher, margin=margin)
        except AnalysisError as err:
            skipped[f"{key} (collapse)"] = str(err)
    pool_growth(curves)  # the tasks share the loss axis: each task's extrapolation error learns from the others
    return {"loss_curves": curves, "collapse": collapse, "skipped": skipped}


def fit_task_laws(records: list[dict], n_boot: int = 1000) -> dict:
    by_task: dict[str, list[dict]] = defaultdict(list)
    for rec in records:
        by_task[rec["task"]].append(rec)
    laws, instance_laws, emergence, skipped = {}, {}, {}, {}
    for task, recs in sorted(by_task.items()):
        try:
            laws[task] = TaskLawModel(recs, task=task).fit()
        except AnalysisError as err:
            skipped[task] = str(err)
            continue
        try:
            instance_laws[task] = InstanceTaskLawModel(recs, task=task, n_boot=n_boot).fit()
        except AnalysisError as err:
            skipped[f"{task} (instance level)"] = str(err)
        try:
            emergence[task] = EmergenceModel(recs, task=task, n_boot=n_boot).fit()
        except AnalysisError as err:
            skipped[f"{task} (emergence)"] = str(err)
    forecasts, not_forecast = fit_forecasts([r for task in laws for r in by_task[task]]) if laws else ({}, {})
    skipped.update({f"{task} (forecast)": why for task, why in not_forecast.items()})
    return {"task_laws": laws, "task_laws_instance": instance_laws, "task_law_forecasts": forecasts, "emergence": emergence,
            "skipped": skipped}


def fit_all(eval_rows, checkpoints, passuntil_records, metrics=None, n_boot: int = 200) -> dict:
    """Every law; returns results objects (see to_fits_json for the file form)."""
    out: dict[str, Any] = {"loss_law": fit_loss_law(checkpoints, n_boot=n_boot) if checkpoints else None}
    out.update(fit_loss_curves(eval_rows, metrics, n_boot=n_boot) if eval_rows else {"loss_curves": {}, "collapse": {}, "skipped": {}})
    laws = fit_task_laws(passuntil_records) if passuntil_records else {"task_laws": {}, "task_laws_instance": {},
                                                                       "task_law_forecasts": {}, "emergence": {},
                                                                       "skipped": {}}
    skipped = {**out.pop("skipped"), **laws.pop("skipped")}
    out.update(laws)
    out["skipped"] = skipped
    return out


def to_fits_json(fits: dict) -> dict:
    """The fits file: FitResults serialised under the keys `emergent predict` reads."""
    out = {}
    for key, value in fits.items():
        if value is None:
            continue
        if hasattr(value, "to_dict"):
            out[key] = value.to_dict()
        elif isinstance(value, dict):
            out[key] = {k: (v.to_dict() if hasattr(v, "to_dict") else v) for k, v in value.items()}
    return out


def largest_rung(checkpoints: list[dict]) -> float:
    sizes = sorted({float(r["params"]) for r in checkpoints})
    if len(sizes) < 3:
        raise AnalysisError(f"--holdout largest needs at least 3 model sizes (2 to fit and 1 to predict), got {len(sizes)}")
    return sizes[-1]


def final_checkpoint_rows(eval_rows, size: float, loss: float) -> list[dict]:
    """The final checkpoint's rows: same size, and the loss recorded for that checkpoint."""
    return [r for r in eval_rows if float(r["params"]) == size and math.isclose(float(r["loss"]), loss, rel_tol=1e-9)]


def actual_values(eval_rows, checkpoints, passuntil_records, size: float) -> dict:
    """What the held-out rung really did: its final loss, final-checkpoint scores and mean PU."""
    finals = [r for r in final_checkpoints(checkpoints) if float(r["params"]) == size]
    final = max(finals, key=lambda r: float(r["tokens"]))
    out: dict[str, Any] = {"loss": float(final["val_loss"]), "tokens": float(final["tokens"]), "tasks": {}, "passuntil": {}}
    for r in final_checkpoint_rows(eval_rows, size, out["loss"]):
        out["tasks"][f"{r['task']}|{r['metric']}"] = float(r["value"])
    by_task: dict[str, list[float]] = defaultdict(list)
    for rec in passuntil_records:
        if float(rec["params"]) == size:
            by_task[rec["task"]].append(record_pu(rec))
    out["passuntil"] = {t: float(np.mean(v)) for t, v in by_task.items()}
    return out


def holdout_largest(eval_rows, checkpoints, passuntil_records, metrics=None, n_boot: int = 200, levels=None):
    """Fit without the largest rung, predict it at its own (N, D), and return (prediction, actual, fits)."""
    from analysis.predict import predict

    size = largest_rung(checkpoints)
    keep = lambda rows: [r for r in rows if float(r["params"]) != size]  # noqa: E731
    fits = fit_all(keep(eval_rows), keep(checkpoints), keep(passuntil_records), metrics=metrics, n_boot=n_boot)
    actual = actual_values(eval_rows, checkpoints, passuntil_records, size)
    prediction = predict(to_fits_json(fits), size, actual["tokens"], levels=levels)
    return prediction, actual, fits
