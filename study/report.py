"""DIR/REPORT.md: what the study found, every number taken from the JSON and CSV files beside it
(fits.json, prediction.json, eval.csv, passuntil/*.jsonl), formatted with `fmt` (4 significant digits)."""
from __future__ import annotations

import json
from collections import defaultdict

import numpy as np

from analysis.pipeline import actual_values
from analysis.task_law import record_pu
from contracts.atomic import write_text_atomic


def fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return f"{value:.4g}"


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_report(study) -> None:
    from analysis.plots import loss_vs_compute, predicted_vs_actual, task_law_plot
    from analysis.report_figures import loss_curve_figure
    from analysis.task_law import TaskLawModel

    out = study.out
    figures = out / "figures"
    fits = json.loads((out / "fits.json").read_text())
    prediction = json.loads((out / "prediction.json").read_text())
    eval_rows, checkpoints, records = study.inputs()
    target = study.largest()[0]
    actual = actual_values(eval_rows, checkpoints, records, float(target.params))
    write_text_atomic(out / "actual.json", json.dumps(actual, indent=2))

    lines = [f"# Study report ({study.preset['name']} preset)", "",
             "Everything below was produced by `emergent study`; numbers come from `fits.json` (fits on all rungs "
             "but the largest), `prediction.json` (written before the largest rung was trained), `actual.json`, "
             "`eval.csv` and `passuntil/*.jsonl`.", ""]

    # Timing
    timings = study.timings()
    lines += ["## Stages and time", "", _table(["stage", "seconds"], [[k, v] for k, v in timings.items()]),
              f"\nTotal so far: {fmt(sum(timings.values()))} s.", ""]

    # Ladder
    lines += ["## Ladder", "", "```", (out / "plan.txt").read_text().rstrip(), "```", ""]

    # Loss law
    law = fits.get("loss_law")
    if law:
        lines += ["## Loss law (all rungs but the largest)", "", f"`{law['formula']}`", "",
                  _table(["parameter", "estimate", "95% low", "95% high"],
                         [[k, v["estimate"], v["ci_low"], v["ci_high"]] for k, v in law["params"].items()]), ""]

    # Thresholds, collapse, correlations
    curves = fits.get("loss_curves", {})
    collapse = fits.get("collapse", {})
    rows = []
    for key, fit in curves.items():
        c = collapse.get(key)
        eta = fit["params"].get("eta")
        rows.append([key, fit["classification"], fit["goodness_of_fit"]["model"],
                     eta["estimate"] if eta else None, eta["ci_low"] if eta else None, eta["ci_high"] if eta else None,
                     fit["delta_bic_threshold_vs_smooth"], fit["spearman_rho"],
                     c["goodness_of_fit"]["p_value"] if c else None])
    lines += ["## Performance vs loss", "",
              "Per task and metric: smooth or emergent (threshold model better by > 6 BIC and random above it), the "
              "threshold eta with its 95% interval, the BIC margin, Spearman's rho against loss, and the collapse "
              "test's p-value (small: size or tokens explain performance beyond loss).", "",
              _table(["task/metric", "class", "model", "eta", "eta low", "eta high", "dBIC", "spearman", "collapse p"], rows),
              "", "![performance vs loss](figures/performance_vs_loss.png)", ""]

    # PassUntil where greedy EM is 0
    by = defaultdict(list)
    for rec in records:
        by[(rec["task"], rec["model"], rec["params"])].append(rec)
    final_em = {}  # greedy EM at each run's last evaluated checkpoint
    for r in eval_rows:
        if r["metric"] == "exact_match":
            key = (r["task"], r["run"])
            if key not in final_em or int(r["step"]) > final_em[key][0]:
                final_em[key] = (int(r["step"]), float(r["value"]))
    pu_rows = []
    for (task, model, params), recs in sorted(by.items(), key=lambda kv: (kv[0][0], kv[0][2])):
        values = [record_pu(x) for x in recs]
        pu_rows.append([task, model, params, final_em.get((task, model), (0, None))[1], float(np.mean(values)),
                        sum(x["censored"] for x in recs), sum(x["samples"] for x in recs)])
    lines += ["## PassUntil", "", "Greedy exact match at each run's final checkpoint against the mean PassUntil "
              "probability over instances (r passes or the cap).", "",
              _table(["task", "run", "params", "greedy EM", "mean PU", "censored", "samples"], pu_rows), ""]

    # Task law
    task_laws = fits.get("task_laws", {})
    if task_laws:
        lines += ["## Task scaling law (PU(N) = exp(-c N^-alpha))", "",
                  _table(["task", "c", "alpha", "alpha low", "alpha high"],
                         [[t, f["params"]["c"]["estimate"], f["params"]["alpha"]["estimate"], f["params"]["alpha"]["ci_low"],
                           f["params"]["alpha"]["ci_high"]] for t, f in task_laws.items()]), ""]
        for task in task_laws:
            recs = [r for r in records if r["task"] == task and float(r["params"]) != float(target.params)]
            try:
                fit = TaskLawModel(recs, task=task).fit()
            except ValueError:
                continue
            path = task_law_plot(fit, figures / f"task_law_{task}.png", float(target.params))
            lines.append(f"![task law {task}](figures/{path.name})")
        lines.append("")
    emergence = fits.get("emergence", {})
    if emergence:
        lines += [_table(["task", "curvature q", "q low", "q high", "shape"],
                         [[t, f["params"]["q"]["estimate"], f["params"]["q"]["ci_low"], f["params"]["q"]["ci_high"], f["shape"]]
                          for t, f in emergence.items()]), ""]

    # Prediction vs actual
    pred_rows, items = [], []

    def add(name, p, a):
        inside = a is not None and p["low"] <= a <= p["high"]
        err = None if a is None else p["estimate"] - a
        rel = None if a in (None, 0) else abs(err) / abs(a)
        pred_rows.append([name, p["estimate"], p["low"], p["high"], a, err, rel, "yes" if inside else "no"])
        if a is not None:
            items.append((name, p, a))

    add("loss", prediction["loss"], actual["loss"])
    for key, t in prediction["tasks"].items():
        add(key, t["value"], actual["tasks"].get(key))
    for task, p in prediction["passuntil"].items():
        add(f"{task} PassUntil", p, actual["passuntil"].get(task))
    lines += [f"## The largest rung, predicted before training ({prediction['run']}, N = {fmt(prediction['params'])}, "
              f"D = {fmt(prediction['tokens'])})", "",
              f"Prediction written before training: {prediction['written_before_training']}.", "",
              _table(["quantity", "predicted", "95% low", "95% high", "actual", "error", "rel. error", "inside"], pred_rows),
              "", "![predicted vs actual](figures/predicted_vs_actual.png)", "",
              "![loss vs compute](figures/loss_vs_compute.png)", ""]

    loss_curve_figure(eval_rows, _curves_for_plot(study), figures / "performance_vs_loss.png")
    loss_vs_compute(checkpoints, figures / "loss_vs_compute.png")
    if items:
        predicted_vs_actual(items, figures / "predicted_vs_actual.png")
    write_text_atomic(out / "REPORT.md", "\n".join(lines) + "\n")


def _curves_for_plot(study) -> dict:
    """The loss-curve fits as objects (for their prediction bands), refitted on the small rungs."""
    from analysis.pipeline import fit_loss_curves

    eval_rows, _, _ = study.inputs(study.small())
    wanted = {"acc", "exact_match", "correct_choice_prob"}
    return {k: v for k, v in fit_loss_curves(eval_rows)["loss_curves"].items() if k.split("|")[1] in wanted}
