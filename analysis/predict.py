"""Prediction before training: (N, D) -> loss -> each task's performance and PassUntil, with intervals.

Monte Carlo propagation: loss draws come from the loss law's bootstrap refits; each task's curve
coefficients are drawn from their (OLS) normal distribution with eta held at its estimate; the task
law's (log c, alpha) from its normal distribution. Intervals are the 2.5% and 97.5% quantiles.
"""
from __future__ import annotations

import numpy as np

from analysis.loss_curve import evaluate_spec
from analysis.loss_law import LossLawModel, LossVsSizeModel
from analysis.results import AnalysisError
from analysis.task_law import pu_of


def _loss_draws(fit: dict, N: float, D: float | None):
    if fit["law"] == "loss_law":
        if D is None:
            raise AnalysisError("the loss law L(N, D) needs --tokens D")
        model, inputs = LossLawModel, (N, D)
    elif fit["law"] == "loss_vs_size":
        model, inputs = LossVsSizeModel, (N,)
    else:
        raise AnalysisError(f"{fit['law']} is not a loss law")
    point = float(model.evaluate([fit["params"][name]["estimate"] for name in model.names], *inputs))
    draws = np.asarray(fit.get("bootstrap_draws") or [], float)
    # Draws are rows in the order of model.names; evaluate takes them as columns, all at once.
    samples = np.asarray(model.evaluate(draws.T, *inputs), float) if len(draws) else np.array([point])
    return point, samples


def _summary(point, samples) -> dict:
    return {"estimate": float(point), "low": float(np.quantile(samples, 0.025)), "high": float(np.quantile(samples, 0.975))}


def predict(fits: dict, N: float, D: float | None = None, n_draws: int = 4000, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    if "loss_law" not in fits:
        raise AnalysisError("the fits file has no loss law; run `emergent fit loss-law` (or `emergent fit all`) first")
    loss_point, loss_samples = _loss_draws(fits["loss_law"], N, D)
    loss_samples = rng.choice(loss_samples, n_draws)
    out = {"params": N, "tokens": D, "loss": _summary(loss_point, loss_samples), "tasks": {}, "passuntil": {}}
    for key, fit in fits.get("loss_curves", {}).items():
        spec = fit["model_spec"]
        coef, cov = np.asarray(spec["coef"]), np.asarray(spec["cov"])
        coef_draws = rng.multivariate_normal(coef, cov, n_draws, check_valid="ignore")
        z_point = float(evaluate_spec(spec, np.array([loss_point]), coef)[0])
        z = np.array([evaluate_spec(spec, np.array([l]), c)[0] for l, c in zip(loss_samples, coef_draws)])
        sign = 1.0 if spec["higher_is_better"] else -1.0
        base = spec["random_baseline"]
        value_samples = base + sign * z
        out["tasks"][key] = {"metric": fit["data"]["metric"], "classification": fit.get("classification"),
                             "value": _summary(base + sign * z_point, value_samples),
                             "above_random": _summary(z_point, z), "random_baseline": base,
                             "eta": spec["eta"]}
    for task, fit in fits.get("task_laws", {}).items():
        law = fit["law_spec"]
        mean, cov = np.array([law["log_c"], law["alpha"]]), np.asarray(law["cov"])
        draws = rng.multivariate_normal(mean, cov, n_draws, check_valid="ignore")
        f = draws[:, 0] - draws[:, 1] * np.log(N)
        point = float(pu_of(law["log_c"] - law["alpha"] * np.log(N)))
        out["passuntil"][task] = _summary(point, pu_of(f))
    return out


def format_prediction(pred: dict, actual: dict | None = None) -> str:
    """A table of predicted values (and, for a backtest, actual values and errors)."""
    rows = [("loss", "", pred["loss"], (actual or {}).get("loss"))]
    for key, t in pred["tasks"].items():
        rows.append((key, t["metric"], t["value"], (actual or {}).get("tasks", {}).get(key)))
    for task, t in pred["passuntil"].items():
        rows.append((task, "PassUntil", t, (actual or {}).get("passuntil", {}).get(task)))
    head = f"{'quantity':<34} {'metric':<22} {'predicted':>10} {'95% interval':>24}"
    if actual:
        head += f" {'actual':>10} {'abs err':>9} {'rel err':>8} {'inside':>7}"
    lines = [f"Prediction for N = {pred['params']:.4g}" + (f", D = {pred['tokens']:.4g}" if pred.get("tokens") else ""), head,
             "-" * len(head)]
    for name, metric, p, a in rows:
        interval = "[{:.4g}, {:.4g}]".format(p["low"], p["high"])
        line = f"{name[:34]:<34} {metric[:22]:<22} {p['estimate']:>10.4g} {interval:>24}"
        if actual:
            if a is None:
                line += f" {'-':>10}"
            else:
                err = p["estimate"] - a
                rel = abs(err) / abs(a) if a else float("inf")
                line += f" {a:>10.4g} {abs(err):>9.3g} {rel:>8.1%} {('yes' if p['low'] <= a <= p['high'] else 'no'):>7}"
        lines.append(line)
    return "\n".join(lines)
