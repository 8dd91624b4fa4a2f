"""Figures people would rather look at than read. Matplotlib's Agg backend: no display needed."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def performance_vs_loss(panels: list[dict], path, columns: int = 3) -> Path:
    """Du et al.'s Figure 1: one panel per task, checkpoints coloured by model size, the random
    baseline dashed, the fitted curve (and eta) on top. Each panel: task, metric, loss, value, params,
    baseline (or None), fit (LossCurveResults or None)."""
    rows = max(1, -(-len(panels) // columns))
    fig, axes = plt.subplots(rows, min(columns, len(panels)), figsize=(4.2 * min(columns, len(panels)), 3.4 * rows),
                             squeeze=False)
    for ax, panel in zip(axes.flat, panels):
        params = np.asarray(panel["params"], float)
        sizes = sorted(set(params))
        cmap = plt.get_cmap("viridis", max(len(sizes), 2))
        for k, size in enumerate(sizes):
            mask = params == size
            ax.scatter(np.asarray(panel["loss"])[mask], np.asarray(panel["value"])[mask], s=14, color=cmap(k),
                       label=f"{size / 1e6:.3g}M")
        if panel.get("baseline") is not None:
            ax.axhline(panel["baseline"], color="black", linestyle="--", linewidth=1, label="random")
        fit = panel.get("fit")
        if fit is not None:  # a LossCurveResults: the chosen curve and its 90% prediction band at each loss
            grid = np.linspace(min(panel["loss"]), max(panel["loss"]), 60)
            bands = np.array([np.quantile(fit.samples(x, n_draws=400), [0.05, 0.95]) for x in grid])
            ax.plot(grid, fit.curve(grid), color="crimson", linewidth=1.5, label=fit.model)
            ax.fill_between(grid, bands[:, 0], bands[:, 1], color="crimson", alpha=0.15, linewidth=0)
            eta = fit.emergence.get("params", {}).get("eta") if fit.classification == "emergent" else None
            if eta:
                ax.axvline(eta["estimate"], color="crimson", linestyle=":", linewidth=1)
            ax.set_title(f"{panel['task']} ({fit.model}; {fit.classification})", fontsize=10)
        else:
            ax.set_title(panel["task"], fontsize=10)
        ax.set_xlabel("pre-training loss")
        ax.set_ylabel(panel["metric"])
        ax.invert_xaxis()  # lower loss to the right: performance rises left to right as in the paper
        ax.legend(fontsize=7, title="size", title_fontsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    return _save(fig, path)


def loss_vs_compute(rows: list[dict], path, law=None) -> Path:
    """Validation loss against training FLOPs for every checkpoint, one line per run."""
    fig, ax = plt.subplots(figsize=(6, 4))
    runs: dict[str, list[dict]] = {}
    for row in rows:
        runs.setdefault(str(row.get("run")), []).append(row)
    sizes = sorted({float(r["params"]) for r in rows})
    cmap = plt.get_cmap("viridis", max(len(sizes), 2))
    for name, points in sorted(runs.items()):
        points = sorted(points, key=lambda r: float(r["flops"]))
        color = cmap(sizes.index(float(points[0]["params"])))
        ax.plot([float(p["flops"]) for p in points], [float(p["val_loss"]) for p in points], "-o", markersize=3,
                color=color, label=name)
    ax.set_xscale("log")
    ax.set_xlabel("training FLOPs (6ND)")
    ax.set_ylabel("validation loss")
    ax.legend(fontsize=7)
    if law is not None:
        ax.set_title(f"{law.formula}", fontsize=9)
    return _save(fig, path)


def task_law_plot(fit, path, target: float | None = None, instance_fit=None) -> Path:
    """Hu et al.: log(-log PU) against log N with the fitted line and, at the target N, the prediction."""
    sizes, means, _ = fit.table
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(sizes, np.log(-np.log(means)), color="black", zorder=3, label="mean PU per model")
    hi_n = max(sizes.max(), target or 0) * 1.5
    grid = np.exp(np.linspace(np.log(sizes.min()) - 0.3, np.log(hi_n), 100))
    est, lo, hi = fit.predict(grid)
    ax.plot(grid, np.log(-np.log(est)), color="crimson", label=f"PU = exp(-c N^-{fit.params['alpha']:.3g})")
    ax.fill_between(grid, np.log(-np.log(np.clip(hi, 1e-300, 1 - 1e-16))), np.log(-np.log(np.clip(lo, 1e-300, 1 - 1e-16))),
                    color="crimson", alpha=0.15, linewidth=0)
    if target is not None:
        e, l, h = (v[0] for v in fit.predict(target))
        ax.errorbar([target], [np.log(-np.log(e))], yerr=[[np.log(-np.log(e)) - np.log(-np.log(h))],
                                                         [np.log(-np.log(l)) - np.log(-np.log(e))]],
                    fmt="s", color="crimson", capsize=3, label=f"predicted at N={target:.3g}: {e:.3g}")
    ax.set_xscale("log")
    ax.set_xlabel("model size N (parameters)")
    ax.set_ylabel("log(-log PU)")
    ax.set_title(fit.data.get("task", ""), fontsize=10)
    ax.legend(fontsize=8)
    return _save(fig, path)


def predicted_vs_actual(items: list[tuple[str, dict, float]], path) -> Path:
    """One row per quantity: the predicted interval and point, and the actual value."""
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(items) + 1.2))
    for k, (name, pred, actual) in enumerate(items):
        scale = max(abs(pred["high"]), abs(pred["low"]), abs(actual), 1e-12)
        ax.plot([pred["low"] / scale, pred["high"] / scale], [k, k], color="crimson", linewidth=3, alpha=0.4)
        ax.plot(pred["estimate"] / scale, k, "o", color="crimson")
        ax.plot(actual / scale, k, "x", color="black", markersize=8)
    ax.set_yticks(range(len(items)))
    ax.set_yticklabels([name for name, _, _ in items], fontsize=8)
    ax.set_xlabel("value / max(|predicted|, |actual|)   (o predicted with 95% interval, x actual)")
    return _save(fig, path)
