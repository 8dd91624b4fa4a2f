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


def _curve_section(fits: dict) -> list[str]:
    """The prediction curve per task with the held-out error that chose it; the emergence and collapse tests."""
    curves = fits.get("loss_curves", {})
    collapse = fits.get("collapse", {})
    rows = []
    for key, fit in curves.items():
        c = collapse.get(key) or {}
        em = fit.get("emergence", {})
        eta = em.get("params", {}).get("eta")
        rows.append([key, fit["model"], fit["selection"]["scores"].get(fit["model"]), fit["selection"]["criterion"],
                     fit["classification"], eta["estimate"] if eta else None, eta["ci_low"] if eta else None,
                     eta["ci_high"] if eta else None, em.get("delta_bic_threshold_vs_smooth"), em.get("spearman_rho"),
                     c.get("goodness_of_fit", {}).get("p_value"), c.get("N_effect_per_efold")])
    schemes = sorted({fit["selection"]["scheme"] for fit in curves.values()})
    return ["## Performance vs loss", "",
            "Per task and metric: the curve used for prediction (sigmoid, hinge, jump or line, chosen by the smallest "
            f"held-out error: {'; '.join(schemes) or '-'}) and that error (RMSE above random); separately, the "
            "emergence test (threshold model better by > 6 BIC and random above it) with its threshold eta and 95% "
            "interval, the BIC margin, Spearman's rho against loss, and the collapse test clustered by run (p-value by "
            "wild cluster bootstrap; N's effect per e-fold of N beyond loss).", "",
            _table(["task/metric", "curve", "held-out err", "chosen by", "emergence", "eta", "eta low", "eta high",
                    "dBIC", "spearman", "collapse p", "N effect/e-fold"], rows),
            "", "![performance vs loss](figures/performance_vs_loss.png)", ""]


def write_report(study) -> None:
    from analysis.plots import loss_vs_compute, predicted_vs_actual, task_law_plot
    from analysis.report_figures import loss_curve_figure

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
    # Stages before this one: the report cannot hold its own time (and a rebuild must not change it).
    timings = {k: v for k, v in study.timings().items() if k != "report"}
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
    lines += _curve_section(fits)

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
        for task, law in task_laws.items():
            recs = [r for r in records if r["task"] == task and float(r["params"]) != float(target.params)]
            if not recs or "law_spec" not in law and "kind" not in law:
                continue
            path = task_law_plot(_LoadedTaskLaw(task, law, recs), figures / f"task_law_{task}.png", float(target.params))
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
              f"Intervals are {100 * prediction.get('level', prediction.get('levels', [0.95])[-1]):g}% prediction intervals "
              "(\"inside\" is judged against them).", "",
              _table(["quantity", "predicted", "PI low", "PI high", "actual", "error", "rel. error", "inside"], pred_rows),
              "", "![predicted vs actual](figures/predicted_vs_actual.png)", "",
              "![loss vs compute](figures/loss_vs_compute.png)", ""]

    small = {r.name for r in study.small()}
    loss_curve_figure([r for r in eval_rows if r["run"] in small], _curves_for_plot(fits), figures / "performance_vs_loss.png")
    loss_vs_compute(checkpoints, figures / "loss_vs_compute.png")
    if items:
        predicted_vs_actual(items, figures / "predicted_vs_actual.png")
    write_text_atomic(out / "REPORT.md", "\n".join(lines) + "\n")


def _curves_for_plot(fits: dict) -> dict:
    """The loss-curve results loaded back from fits.json (no refit)."""
    from analysis.results import LossCurveResults

    wanted = {"acc", "exact_match", "correct_choice_prob"}
    return {k: LossCurveResults.from_dict(v) for k, v in fits.get("loss_curves", {}).items() if k.split("|")[1] in wanted}


class _LoadedTaskLaw:
    """What the task-law figure draws, from the fits file and the records (no refit): mean PU per size,
    and the law's prediction through the one prediction path (analysis.predict)."""

    def __init__(self, task: str, law: dict, records: list[dict]):
        by_size = defaultdict(list)
        for rec in records:
            by_size[float(rec["params"])].append(record_pu(rec))
        sizes = np.array(sorted(by_size))
        self.table = (sizes, np.array([np.mean(by_size[n]) for n in sizes]), None)
        self.law, self.data = law, {"task": task}
        self.params = {k: v["estimate"] for k, v in law.get("params", {}).items()}

    def predict(self, N):
        from analysis.predict import _passuntil

        rng = np.random.default_rng(0)
        out = [_passuntil(self.law, float(n), [0.95], rng, 2000) for n in np.atleast_1d(N)]
        return tuple(np.array([o[k] for o in out]) for k in ("estimate", "low", "high"))
