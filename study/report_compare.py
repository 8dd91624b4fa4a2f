"""The largest rung, predicted against measured: one row per predicted quantity with its prediction
intervals at every level in prediction.json, the measured value and that value's own evaluation noise.

"Inside" is judged on the measured point against the prediction interval. The intervals already hold the
noise a new measurement has (analysis/predict.py): a task's curve adds the scatter of measured checkpoints
about the curve (each measured with the same eval limit, so with the same evaluation noise), the loss adds a
run's scatter about the loss law, PassUntil's forecast the extrapolation error of forward-chained steps inside
the fitted rungs (their sampling noise included). Widening them again
by the measured value's standard error would count that noise twice; the standard error is shown beside
each miss instead (how many standard errors outside the interval).
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from analysis.pipeline import final_checkpoint_rows
from analysis.task_law import record_pu


@dataclass
class Quantity:
    name: str
    kind: str                      # "loss" | "task" | "passuntil"
    estimate: float
    intervals: dict[float, tuple[float, float]]  # level -> (low, high)
    method: str
    actual: float | None = None
    stderr: float | None = None    # the measured value's own noise (eval stderr; s.e. over instances)
    baseline: float | None = None  # random baseline of the metric (tasks)
    higher_is_better: bool | None = None
    classification: str | None = None

    def inside(self, level: float) -> bool | None:
        if self.actual is None or level not in self.intervals:
            return None
        low, high = self.intervals[level]
        return low <= self.actual <= high

    def miss_in_stderr(self, level: float) -> float | None:
        """How far outside the interval the measured value lies, in its own standard errors (0 inside)."""
        if self.actual is None or level not in self.intervals or not self.stderr:
            return None
        low, high = self.intervals[level]
        gap = max(low - self.actual, self.actual - high, 0.0)
        return gap / self.stderr

    def clear_of_chance(self, low: float, high: float) -> bool:
        """The interval lies on the good side of the random baseline."""
        if self.baseline is None or self.higher_is_better is None:
            return False
        return low > self.baseline if self.higher_is_better else high < self.baseline

    def measured_above_chance(self, z: float = 1.645) -> bool:
        """Measured beyond the random baseline by more than z of its own standard errors (one-sided 5%)."""
        if self.actual is None or self.baseline is None or self.higher_is_better is None:
            return False
        margin = z * (self.stderr or 0.0)
        gain = self.actual - self.baseline if self.higher_is_better else self.baseline - self.actual
        return gain > margin


@dataclass
class Comparison:
    quantities: list[Quantity]
    levels: list[float]
    methods: list[str] = field(default_factory=list)

    def measured(self) -> list[Quantity]:
        return [q for q in self.quantities if q.actual is not None]

    def count_inside(self, level: float) -> tuple[int, int]:
        judged = [q.inside(level) for q in self.measured() if q.inside(level) is not None]
        return sum(bool(v) for v in judged), len(judged)


def _levels(prediction: dict) -> list[float]:
    levels = prediction.get("levels") or [prediction.get("level", 0.95)]
    return sorted(float(v) for v in levels)


def _intervals(entry: dict, levels: list[float]) -> dict[float, tuple[float, float]]:
    """Every level the prediction carries; an old prediction.json has only low/high at its one level."""
    stored = entry.get("intervals") or {}
    out = {}
    for level in levels:
        pair = stored.get(f"{level:g}")
        if pair is not None:
            out[level] = (float(pair[0]), float(pair[1]))
    if not out and "low" in entry:
        out[float(entry.get("level", levels[-1]))] = (float(entry["low"]), float(entry["high"]))
    return out


def _final_rows(eval_rows: list[dict], size: float, loss: float) -> dict[str, dict]:
    """The held-out rung's final-checkpoint rows by task|metric (the rows analysis.pipeline.actual_values reads)."""
    return {f"{r['task']}|{r['metric']}": r for r in final_checkpoint_rows(eval_rows, size, loss)}


def _float(value) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _passuntil_stderr(records: list[dict], size: float) -> dict[str, float]:
    by_task: dict[str, list[float]] = defaultdict(list)
    for rec in records:
        if float(rec["params"]) == size:
            by_task[rec["task"]].append(record_pu(rec))
    return {task: float(np.std(v, ddof=1) / math.sqrt(len(v))) for task, v in by_task.items() if len(v) > 1}


def compare(prediction: dict, actual: dict, eval_rows: list[dict], records: list[dict]) -> Comparison:
    levels = _levels(prediction)
    size = float(prediction["params"])
    rows = _final_rows(eval_rows, size, float(actual["loss"]))
    pu_stderr = _passuntil_stderr(records, size)
    loss = prediction["loss"]
    quantities = [Quantity("loss", "loss", loss["estimate"], _intervals(loss, levels), loss.get("method", ""),
                           actual=actual.get("loss"))]
    for key, task in prediction.get("tasks", {}).items():
        value, row = task["value"], rows.get(key, {})
        hib = str(row.get("higher_is_better", "")).strip().lower()
        quantities.append(Quantity(
            key, "task", value["estimate"], _intervals(value, levels), value.get("method", ""),
            actual=actual.get("tasks", {}).get(key), stderr=_float(row.get("stderr")),
            baseline=_float(row.get("random_baseline")),
            higher_is_better={"true": True, "false": False}.get(hib), classification=task.get("classification")))
    for task, value in prediction.get("passuntil", {}).items():
        quantities.append(Quantity(f"{task} PassUntil", "passuntil", value["estimate"], _intervals(value, levels),
                                   value.get("method", ""), actual=actual.get("passuntil", {}).get(task),
                                   stderr=pu_stderr.get(task)))
    methods = sorted({q.method for q in quantities if q.method})
    return Comparison(quantities, levels, methods)
