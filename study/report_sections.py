"""The report's sections, each a list of Markdown lines built from the study's files (no fit, no refit)."""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from analysis.task_law import record_pu
from study.report_compare import Comparison
from study.report_flags import Flag
from study.report_format import fmt, interval, table


def stages(timings: dict[str, float]) -> list[str]:
    return ["## Stages and time", "", table(["stage", "seconds"], [[k, v] for k, v in timings.items()]),
            f"\nTotal so far: {fmt(sum(timings.values()))} s.", ""]


def ladder(plan_text: str, heldout_run: str) -> list[str]:
    return ["## Ladder", "", f"Every rung but {heldout_run} (the largest) was fitted; {heldout_run} was predicted "
            "before it trained.", "", "```", plan_text.rstrip(), "```", ""]


def loss_law(fits: dict) -> list[str]:
    law = fits.get("loss_law")
    if not law:
        return []
    return ["## Loss law (all rungs but the largest)", "", f"`{law['formula']}`", "",
            table(["parameter", "estimate", "95% low", "95% high"],
                  [[k, v["estimate"], v["ci_low"], v["ci_high"]] for k, v in law["params"].items()]), ""]


def value_spearman(fit: dict) -> float | None:
    """Spearman's rho between the metric's own value and the loss. The emergence test stores rho against
    performance above random, oriented so that larger is better (z = baseline - value for a lower-is-better
    metric such as Brier or NLL); rank correlation is unchanged by that shift and flips with the sign."""
    rho = (fit.get("emergence") or {}).get("spearman_rho")
    if rho is None:
        return None
    return float(rho) if fit.get("higher_is_better", True) else -float(rho)


def _curve_row(key: str, fit: dict, collapse: dict) -> list:
    em = fit.get("emergence") or {}
    eta = (em.get("params") or {}).get("eta") or {}
    selection = fit.get("selection") or {}
    return [key, "higher" if fit.get("higher_is_better", True) else "lower", fit.get("model"),
            (selection.get("scores") or {}).get(fit.get("model")), selection.get("criterion"), fit.get("classification"),
            eta.get("estimate"), eta.get("ci_low"), eta.get("ci_high"), em.get("delta_bic_threshold_vs_smooth"),
            value_spearman(fit), (collapse.get("goodness_of_fit") or {}).get("p_value"), collapse.get("N_effect_per_efold"),
            _size_verdict(collapse)]


def _size_verdict(collapse: dict) -> str:
    """What size adds across the ladder at equal loss (90% interval, points) and the equivalence verdict."""
    if "equivalence" not in collapse:
        return ""
    low, high = collapse["size_effect_over_span_interval_90"]
    return f"{100 * collapse['size_effect_over_span']:.2g} [{100 * low:.2g}, {100 * high:.2g}]: {collapse['equivalence']}"


def curves(fits: dict) -> list[str]:
    """The prediction curve per task with the held-out error that chose it; the emergence and collapse tests."""
    found = fits.get("loss_curves") or {}
    collapse = fits.get("collapse") or {}
    rows = [_curve_row(key, fit, collapse.get(key) or {}) for key, fit in found.items()]
    schemes = sorted({str((fit.get("selection") or {}).get("scheme")) for fit in found.values()})
    return ["## Performance vs loss", "",
            "Per task and metric: which way is better, the curve used for prediction (sigmoid, hinge, jump or line, "
            f"chosen by held-out error, the simplest within one standard error of the smallest: "
            f"{'; '.join(schemes) or '-'}) and that error (RMSE above random); "
            "separately, the emergence test (threshold model better by > 6 BIC and random above it) with its threshold "
            "eta and 95% interval, the BIC margin, Spearman's rho between the metric's value and the loss (negative: "
            "the value rises as loss falls, as accuracy should; positive for an improving lower-is-better metric such as "
            "Brier or NLL), and the collapse test clustered by run (p-value by wild cluster bootstrap; N's effect per "
            "e-fold of N beyond loss), with its practical verdict: what size adds across the fitted sizes at equal loss, "
            "in points with its 90% interval, against a margin of 1 point (collapses within 1, size matters, or "
            "undecided).", "",
            table(["task/metric", "better", "curve", "held-out err", "chosen by", "emergence", "eta", "eta low", "eta high",
                   "dBIC", "spearman (value, loss)", "collapse p", "N effect/e-fold", "size across ladder (pts)"], rows),
            "", "Fitted checkpoints are coloured by size; the largest rung's checkpoints (hollow diamonds) were not "
            "fitted. The band is the 90% prediction interval of a new checkpoint's value at each loss.", "",
            "![performance vs loss](figures/performance_vs_loss.png)", ""]


def _final_greedy_em(eval_rows: list[dict]) -> dict[tuple[str, str], float]:
    """Greedy exact match at each run's last evaluated checkpoint."""
    final: dict[tuple[str, str], tuple[int, float]] = {}
    for r in eval_rows:
        if r["metric"] == "exact_match":
            key = (r["task"], r["run"])
            if key not in final or int(r["step"]) > final[key][0]:
                final[key] = (int(r["step"]), float(r["value"]))
    return {k: v[1] for k, v in final.items()}


def passuntil(eval_rows: list[dict], records: list[dict]) -> list[str]:
    by = defaultdict(list)
    for rec in records:
        by[(rec["task"], rec["model"], rec["params"])].append(rec)
    greedy = _final_greedy_em(eval_rows)
    rows = []
    for (task, model, params), recs in sorted(by.items(), key=lambda kv: (kv[0][0], float(kv[0][2]))):
        values = [record_pu(x) for x in recs]
        rows.append([task, model, params, greedy.get((task, model)), float(np.mean(values)),
                     sum(bool(x["censored"]) for x in recs), sum(int(x["samples"]) for x in recs)])
    return ["## PassUntil", "", "Greedy exact match at each run's final checkpoint against the mean PassUntil "
            "probability over instances (r passes or the cap).", "",
            table(["task", "run", "params", "greedy EM", "mean PU", "censored", "samples"], rows), ""]


def task_laws(fits: dict, figure_names: list[str]) -> list[str]:
    laws = fits.get("task_laws") or {}
    lines: list[str] = []
    if laws:
        rows = []
        for task, f in laws.items():
            p = f.get("params") or {}
            alpha = p.get("alpha") or {}
            rows.append([task, (p.get("c") or {}).get("estimate"), alpha.get("estimate"), alpha.get("ci_low"),
                         alpha.get("ci_high"), len(f.get("mean_pu") or {}) or None, f.get("method")])
        lines += ["## Task scaling law (PU(N) = exp(-c N^-alpha))", "",
                  table(["task", "c", "alpha", "alpha low", "alpha high", "sizes", "method"], rows), ""]
        lines += [f"![task law {name}](figures/{name})" for name in figure_names]
        lines.append("")
    emergence = fits.get("emergence") or {}
    if emergence:
        lines += [table(["task", "curvature q", "q low", "q high", "shape"],
                        [[t, f["params"]["q"]["estimate"], f["params"]["q"]["ci_low"], f["params"]["q"]["ci_high"],
                          f.get("shape")] for t, f in emergence.items()]), ""]
    return lines


def _miss(value: float | None) -> str:
    return "-" if not value else f"{value:.2g}"


def prediction(prediction: dict, comparison: Comparison) -> list[str]:
    levels = comparison.levels
    rows = []
    for q in comparison.quantities:
        error = None if q.actual is None else q.estimate - q.actual
        rows.append([q.name, q.estimate, *[interval(*q.intervals[lv]) if lv in q.intervals else "-" for lv in levels],
                     q.actual, q.stderr, error, *["-" if q.inside(lv) is None else q.inside(lv) for lv in levels],
                     _miss(q.miss_in_stderr(levels[0]))])
    header = ["quantity", "predicted", *[f"{lv:.0%} PI" for lv in levels], "actual", "actual s.e.", "error",
              *[f"inside {lv:.0%}" for lv in levels], f"miss (s.e., {levels[0]:.0%})"]
    counts = "; ".join(f"inside the {lv:.0%} intervals: {k} of {n}" for lv in levels for k, n in [comparison.count_inside(lv)])
    return [f"## The largest rung, predicted before training ({prediction.get('run')}, N = {fmt(prediction.get('params'))}, "
            f"D = {fmt(prediction.get('tokens'))})", "",
            f"Prediction written before training: {prediction.get('written_before_training')}. {counts}.", "",
            "All intervals are prediction intervals for what the measurement will read, and \"inside\" means the measured "
            "value lies in the interval. They already hold the measurement's noise: a task's interval adds the scatter "
            "of measured checkpoints about the curve (same eval limit, hence the same evaluation noise) to refits over "
            "runs and the loss law's draws; the loss adds a run's scatter about the loss law; PassUntil's forecast adds "
            "the extrapolation error learnt by forward chaining inside the fitted rungs (which holds the sampling "
            "noise of those rungs) to its predictor's parameter noise. The measured value's own standard error (eval stderr; s.e. of the mean over "
            "instances for PassUntil) is shown, not added again; \"miss\" is the distance outside the interval in "
            "those standard errors.", "",
            table(header, rows), "", "Interval methods used:", "", *[f"- {m}" for m in comparison.methods], "",
            "![predicted vs actual](figures/predicted_vs_actual.png)", "",
            "![loss vs compute](figures/loss_vs_compute.png)", ""]


def flags_and_skipped(flags: list[Flag], skipped: dict[str, str]) -> list[str]:
    lines = ["## Flags and skipped laws", "",
             "Flags: at_bound (a parameter at an optimiser bound), bootstrap_at_bound (bootstrap refits at a bound), "
             "ci_includes_zero (a sign-carrying parameter's 95% interval holds 0), too_few_points (no more points than "
             "free parameters).", ""]
    lines += [table(["fit", "flag", "what it means here"], [[f.fit, f.code, f.message] for f in flags]) if flags
              else "No fit carries a flag.", ""]
    lines += [table(["skipped fit (as fits.json names it)", "why"], [[k, v] for k, v in skipped.items()]) if skipped
              else "No law was skipped.", ""]
    return lines
