"""Figures assembled from fit results and their input rows (shared by the CLI and the study report)."""
from __future__ import annotations

from analysis.plots import performance_vs_loss


def loss_curve_figure(rows: list[dict], curves: dict, path, heldout_runs: set[str] | None = None, level: float = 0.9):
    """One panel per fitted (task, metric); rows of `heldout_runs` are drawn as held-out points (not fitted)."""
    panels = []
    held = heldout_runs or set()
    for key, fit in curves.items():
        task, metric = key.split("|", 1)
        mine = [r for r in rows if r["task"] == task and r["metric"] == metric]
        base = [float(r["random_baseline"]) for r in mine if r.get("random_baseline") not in (None, "")]
        panels.append({"task": task, "metric": metric, "loss": [float(r["loss"]) for r in mine],
                       "value": [float(r["value"]) for r in mine], "params": [float(r["params"]) for r in mine],
                       "heldout": [str(r.get("run")) in held for r in mine],
                       "baseline": sum(base) / len(base) if base else None, "fit": fit})
    return performance_vs_loss(panels, path, level=level)
