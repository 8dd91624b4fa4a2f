"""Figures people would rather look at than read. Matplotlib's Agg backend: no display needed.

Every figure labels its axes, names its bands in a legend ("90% prediction interval", not a bare shade),
marks held-out points (the largest rung, never fitted) apart from fitted ones, keeps at most a handful of
ticks per axis, and is saved with constrained layout and a tight bounding box so no label is clipped.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

HELD_OUT = dict(marker="D", facecolors="none", edgecolors="black", linewidths=1.2, s=36, zorder=4)
HELD_OUT_LABEL = "held out: largest rung (not fitted)"
FIT_COLOR = "crimson"


def _figure(width: float, height: float, rows: int = 1, columns: int = 1, **kwargs):
    return plt.subplots(rows, columns, figsize=(width, height), squeeze=False, layout="constrained", **kwargs)


def _few_ticks(ax, x: bool = True, y: bool = True) -> None:
    if x and ax.get_xscale() == "linear":
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
    if y and ax.get_yscale() == "linear":
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.tick_params(labelsize=8)


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def _size_label(size: float) -> str:
    return f"N = {size / 1e6:.3g}M"


def _scatter_sizes(ax, panel: dict, sizes: list[float]) -> None:
    """Checkpoints coloured by model size; held-out ones (panel["heldout"]) as hollow diamonds."""
    params = np.asarray(panel["params"], float)
    loss, value = np.asarray(panel["loss"], float), np.asarray(panel["value"], float)
    held = np.asarray(panel.get("heldout") or [False] * len(loss), bool)
    cmap = plt.get_cmap("viridis", max(len(sizes), 2))
    for k, size in enumerate(sizes):
        mask = (params == size) & ~held
        if mask.any():
            ax.scatter(loss[mask], value[mask], s=14, color=cmap(k), label=_size_label(size))
    if held.any():
        ax.scatter(loss[held], value[held], label=HELD_OUT_LABEL, **HELD_OUT)


def _draw_curve(ax, panel: dict, fit, level: float) -> None:
    """The chosen curve and the prediction interval of a new checkpoint at each loss."""
    grid = np.linspace(min(panel["loss"]), max(panel["loss"]), 40)
    tail = (1 - level) / 2
    bands = np.array([np.quantile(fit.samples(x, n_draws=400), [tail, 1 - tail]) for x in grid])
    ax.plot(grid, fit.curve(grid), color=FIT_COLOR, linewidth=1.5, label="fitted curve (named in the title)")
    ax.fill_between(grid, bands[:, 0], bands[:, 1], color=FIT_COLOR, alpha=0.15, linewidth=0,
                    label=f"{level:.0%} prediction interval")
    eta = fit.emergence.get("params", {}).get("eta") if fit.classification == "emergent" else None
    if eta:
        ax.axvline(eta["estimate"], color=FIT_COLOR, linestyle=":", linewidth=1, label="emergence threshold eta")


def performance_vs_loss(panels: list[dict], path, columns: int = 3, level: float = 0.9) -> Path:
    """Du et al.'s Figure 1: one panel per task, checkpoints coloured by model size, held-out checkpoints
    as hollow diamonds, the random baseline dashed, the fitted curve with its prediction band (and eta).
    Each panel: task, metric, loss, value, params, baseline (or None), fit (LossCurveResults or None),
    heldout (optional: one bool per point, True for points the fit never saw)."""
    columns = max(1, min(columns, len(panels)))
    rows = max(1, -(-len(panels) // columns))
    fig, axes = _figure(4.2 * columns, 3.4 * rows + 0.6, rows, columns)
    sizes = sorted({float(p) for panel in panels for p in panel["params"]})
    for ax, panel in zip(axes.flat, panels):
        _scatter_sizes(ax, panel, sizes)
        if panel.get("baseline") is not None:
            ax.axhline(panel["baseline"], color="black", linestyle="--", linewidth=1, label="random baseline")
        fit = panel.get("fit")
        if fit is not None:
            _draw_curve(ax, panel, fit, level)
            ax.set_title(f"{panel['task']}\n{fit.model} curve; emergence test: {fit.classification}", fontsize=9)
        else:
            ax.set_title(panel["task"], fontsize=9)
        ax.set_xlabel("pre-training loss (lower to the right)", fontsize=8)
        ax.set_ylabel(panel["metric"], fontsize=8)
        if np.ptp(np.asarray(panel["value"], float)) < 1e-9:  # a constant metric (all 0): a readable range, no offset
            centre = float(panel["value"][0]) if len(panel["value"]) else 0.0
            ax.set_ylim(centre - 0.05, centre + 0.05)
        ax.invert_xaxis()  # lower loss to the right: performance rises left to right as in the paper
        _few_ticks(ax)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    _figure_legend(fig, axes)
    return _save(fig, path)


def _figure_legend(fig, axes, most_columns: int = 4) -> None:
    """One legend for all panels (the same sizes and bands in each; a label drawn twice is listed once), below them."""
    entries: dict[str, object] = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    if entries:
        fig.legend(list(entries.values()), list(entries), loc="outside lower center",
                   ncols=min(most_columns, len(entries)), fontsize=8)


def loss_vs_compute(rows: list[dict], path, law=None, heldout: set[str] | None = None,
                    predicted: dict | None = None) -> Path:
    """Validation loss against training FLOPs for every checkpoint, one line per run. `heldout`: runs the
    fits never saw (dashed, hollow markers); `predicted`: {"flops", "estimate", "intervals": {level: (lo, hi)}}
    for the held-out run's final loss, drawn as a point with its prediction intervals."""
    fig, axes = _figure(7, 4.2)
    ax = axes[0, 0]
    runs: dict[str, list[dict]] = {}
    for row in rows:
        runs.setdefault(str(row.get("run")), []).append(row)
    sizes = sorted({float(r["params"]) for r in rows})
    cmap = plt.get_cmap("viridis", max(len(sizes), 2))
    for name, points in sorted(runs.items()):
        points = sorted(points, key=lambda r: float(r["flops"]))
        color = cmap(sizes.index(float(points[0]["params"])))
        held = name in (heldout or set())
        ax.plot([float(p["flops"]) for p in points], [float(p["val_loss"]) for p in points], "--" if held else "-",
                marker="o", markersize=3, color=color, markerfacecolor="none" if held else color,
                label=f"{name} ({'held out' if held else 'fitted'})" if heldout is not None else name)
    if predicted:
        _predicted_point(ax, predicted)
    ax.set_xscale("log")
    ax.set_xlabel("training FLOPs (6ND)")
    ax.set_ylabel("validation loss")
    _few_ticks(ax, x=False)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    if law is not None:
        ax.set_title(f"{law.formula}", fontsize=9)
    return _save(fig, path)


def _predicted_point(ax, predicted: dict) -> None:
    x, est = float(predicted["flops"]), float(predicted["estimate"])
    for k, (level, (low, high)) in enumerate(sorted(predicted["intervals"].items(), reverse=True)):
        ax.errorbar([x], [est], yerr=[[est - low], [high - est]], fmt="none", ecolor=FIT_COLOR, elinewidth=1 + 2 * k,
                    alpha=0.35 + 0.3 * k, capsize=3, label=f"{float(level):.0%} prediction interval")
    ax.plot([x], [est], "s", color=FIT_COLOR, label="predicted before training")


def task_law_plot(fit, path, target: float | None = None, instance_fit=None, heldout: tuple[float, float] | None = None) -> Path:
    """Hu et al.: log(-log PU) against log N with the fitted line, its prediction band and, at the target N,
    the prediction; `heldout` = (N, measured mean PU) of the rung the fit never saw."""
    sizes, means, _ = fit.table
    fig, axes = _figure(6.5, 4.2)
    ax = axes[0, 0]
    F = lambda pu: np.log(-np.log(np.clip(np.asarray(pu, float), 1e-300, 1 - 1e-16)))  # noqa: E731
    ax.scatter(sizes, F(means), color="black", zorder=3, label="mean PU per model (fitted)")
    hi_n = max(sizes.max(), target or 0, heldout[0] if heldout else 0) * 1.5
    grid = np.exp(np.linspace(np.log(sizes.min()) - 0.3, np.log(hi_n), 100))
    pred = fit.predict(grid)
    est, lo, hi = pred
    level = getattr(pred, "level", 0.95)
    ax.plot(grid, F(est), color=FIT_COLOR, label=f"task law PU = exp(-c N^-alpha), alpha = {fit.params['alpha']:.3g}")
    ax.fill_between(grid, F(hi), F(lo), color=FIT_COLOR, alpha=0.15, linewidth=0, label=f"{level:.0%} prediction interval")
    if target is not None:
        t = fit.predict(target)
        e, low, high = (float(np.asarray(v)[0]) for v in t)
        ax.errorbar([target], [F(e)], yerr=[[F(e) - F(high)], [F(low) - F(e)]], fmt="s", color=FIT_COLOR, capsize=3,
                    label=f"predicted at N = {target:.3g}: {e:.3g}")
    if heldout is not None and 0 < heldout[1] < 1:
        ax.scatter([heldout[0]], [F(heldout[1])], label=f"{HELD_OUT_LABEL}: {heldout[1]:.3g}", **HELD_OUT)
    ax.set_xscale("log")
    ax.set_xlabel("model size N (parameters)")
    ax.set_ylabel("log(-log PU)  (lower: more passes)")
    _few_ticks(ax, x=False)
    ax.set_title(fit.data.get("task", ""), fontsize=10)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncols=2)
    return _save(fig, path)


def _standardise(value: float, estimate: float, low: float, high: float, clip: float = 3.0) -> float:
    """Distance from the prediction in units of the interval's half-width on that side (its ends at -1 and +1)."""
    half = (estimate - low) if value < estimate else (high - estimate)
    if value == estimate:
        return 0.0
    if half <= 0:
        return float(np.sign(value - estimate) * clip)
    return float(np.clip((value - estimate) / half, -clip, clip))


def _interval_row(ax, y: float, pred: dict, actual: float, err: float | None) -> None:
    """One quantity on the common scale (see predicted_vs_actual), with its numbers on the right."""
    intervals = {float(lv): v for lv, v in (pred.get("intervals") or {}).items()} or {
        float(pred.get("level", 0.95)): (pred["low"], pred["high"])}
    widest = intervals[max(intervals)]

    def scale(v: float) -> float:
        return _standardise(v, pred["estimate"], *widest)

    for j, (level, (low, high)) in enumerate(sorted(intervals.items(), reverse=True)):
        ax.plot([scale(low), scale(high)], [y, y], color=FIT_COLOR, linewidth=5 + 4 * j, alpha=0.2 + 0.25 * j,
                solid_capstyle="butt", label=f"{level:.0%} prediction interval")
    ax.plot([0], [y], "o", color=FIT_COLOR, label="predicted (before training)")
    if err:
        ax.plot([scale(actual - err), scale(actual + err)], [y, y], color="black", linewidth=1,
                label="measured +- its standard error")
    ax.plot([scale(actual)], [y], "x", color="black", markersize=8, label="measured")
    ax.annotate(f"{pred['estimate']:.3g} [{widest[0]:.3g}, {widest[1]:.3g}] vs {actual:.3g}", (1.02, y),
                xycoords=("axes fraction", "data"), va="center", fontsize=7)


def predicted_vs_actual(items: list[tuple[str, dict, float]], path, stderr: dict[str, float] | None = None) -> Path:
    """One row per quantity on a common scale: the widest prediction interval spans -1..+1 (its own units on each
    side of the predicted point), narrower levels inside it; the measured value (x) and its standard error on the
    same scale; the numbers themselves on the right. Beyond +-3 a point is drawn at the edge."""
    fig, axes = _figure(8.5, 0.4 * len(items) + 1.4)
    ax = axes[0, 0]
    for k, (name, pred, actual) in enumerate(items):
        _interval_row(ax, len(items) - 1 - k, pred, actual, (stderr or {}).get(name))
    ax.set_yticks(range(len(items)), [name for name, _, _ in reversed(items)], fontsize=8)
    ax.set_ylim(-0.8, len(items) - 0.2)
    ax.set_xlim(-3.3, 3.3)
    ax.axvline(0, color="grey", linewidth=0.5)
    ax.set_xlabel("distance from the predicted value, in half-widths of the widest interval (its ends at -1 and +1)",
                  fontsize=8)
    ax.set_title("largest rung: predicted before training vs measured (right: predicted [interval] vs measured)",
                 fontsize=9)
    _figure_legend(fig, axes, most_columns=3)
    return _save(fig, path)
