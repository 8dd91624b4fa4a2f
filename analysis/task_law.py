"""The task scaling law of Hu et al. 2024: PU(N) = exp(-c N^-alpha), i.e. F = log(-log PU) = log c - alpha log N.

Input: PassUntil records (one per instance and model: passes, samples, censored, the model's N).
Under inverse sampling the likelihood of p is p^passes (1 - p)^(samples - passes), the binomial
kernel, censored instances included, so binomial likelihoods are exact here (for every r).

Methods (issue 15 measured each over simulations, tests/test_task_law_simulation.py):
- `instance` (default): each instance's own law by maximum likelihood, the task's PU their mean
  (IPU). Its bias and prediction-interval coverage hold whether instances are alike, differ in
  difficulty, or are censored. Instances that passed at one size only share the fitted instances'
  exponent; instances that never passed are bounded (see InstanceTaskLawResults).
- `wls`: least squares of F of each size's mean PU (the paper's dataset-level quantity) on log N, with
  equal weights (weights from each size's own sample variance biased a 10x extrapolation about -11%)
  and t intervals with n_sizes - 2 degrees of freedom.
- `glm`: one pass rate per size shared by all instances. Refused when the heterogeneity test says the
  instances differ (pooled passes then track the easiest instances: bias -98% in the simulation).
"""
from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import statsmodels.api as sm
from scipy import stats

from analysis.instance_fit import fit_intercept, fit_two, loglik, shrink_slopes
from analysis.results import AnalysisError
from analysis.task_law_results import (InstanceTaskLawResults, TaskLawResults, f_of, pu_of,  # noqa: F401 (re-export)
                                        task_law_from_dict)
from contracts.provenance import provenance as _provenance

_MADE_WITH: dict = {}


def provenance() -> dict:
    """Library versions and git revision, read once per process (reading them costs ~0.3 s). No time or host, as in
    every fit: the same inputs and seed give the same fits file, byte for byte."""
    if not _MADE_WITH:
        made = _provenance()
        _MADE_WITH.update({"versions": made["versions"], "git_revision": made["git_revision"]})
    return dict(_MADE_WITH)

METHODS = ("instance", "wls", "glm")
DEFAULT_METHOD = "instance"
HETEROGENEITY_LEVEL = 0.01  # the pooled GLM is refused below this p-value


def record_pu(record: dict) -> float:
    """An instance's unbiased PassUntil estimate. A censored record without one (a fixed budget of n samples,
    r never reached) has x / n, which is unbiased there. Other records without one (r = 1 from before the
    unbiased r = 1 estimator was recorded) are refused: their MLE 1/K is biased up (4.7x at p = 1e-2)."""
    value = record.get("pu_unbiased")
    if value is None and record.get("censored"):
        return record["passes"] / record["samples"]
    if value is None:
        raise AnalysisError(f"PassUntil record of instance {record.get('instance_id')} has no unbiased estimate "
                            f"(r = {record.get('r')}); re-run passuntil (r >= 2 advised) or use the instance method")
    return float(value)


def group_by_model(records: list[dict], task: str) -> dict[float, list[dict]]:
    by_model: dict[float, list[dict]] = defaultdict(list)
    for rec in records:
        n = rec.get("params")
        if n is None or not math.isfinite(float(n)) or float(n) <= 0:
            raise AnalysisError(f"task {task}: a PassUntil record of instance {rec.get('instance_id')} has no model size "
                                "(params); re-run passuntil with --params N")
        by_model[float(n)].append(rec)
    if len(by_model) < 2:
        raise AnalysisError(f"task {task}: PassUntil records for {len(by_model)} model size(s); the task law needs at least 2 (3 for intervals)")
    return dict(sorted(by_model.items()))


def mean_pu_table(by_model: dict[float, list[dict]], task: str):
    sizes, means, variances = [], [], []
    for n, recs in by_model.items():
        values = np.array([record_pu(r) for r in recs])
        if values.mean() <= 0:
            raise AnalysisError(f"task {task}: every instance of the model with N={n:.3g} has PassUntil 0; raise "
                                "--max-samples for it or leave that model out")
        if values.mean() >= 1:
            raise AnalysisError(f"task {task}: the model with N={n:.3g} passes every sample; PU = 1 carries no information")
        sizes.append(n)
        means.append(values.mean())
        variances.append(values.var(ddof=1) / len(values) if len(values) > 1 else values.mean() ** 2)
    return np.array(sizes), np.array(means), np.array(variances)


def instance_arrays(records: list[dict], task: str):
    """(ids, sizes, t (log N - t0), passes, samples, t0): instances x sizes; a missing cell has 0 samples."""
    sizes = np.array(list(group_by_model(records, task)))
    ids = sorted({str(r["instance_id"]) for r in records})
    row, col = {k: i for i, k in enumerate(ids)}, {s: j for j, s in enumerate(sizes)}
    passes, samples = np.zeros((len(ids), len(sizes))), np.zeros((len(ids), len(sizes)))
    for rec in records:
        i, j = row[str(rec["instance_id"])], col[float(rec["params"])]
        if samples[i, j]:
            raise AnalysisError(f"task {task}: instance {rec['instance_id']} has two records at N={sizes[j]:.3g}; "
                                "keep one PassUntil file per model")
        passes[i, j], samples[i, j] = rec["passes"], rec["samples"]
    t0 = float(np.log(sizes).mean())
    return ids, sizes, np.tile(np.log(sizes) - t0, (len(ids), 1)), passes, samples, t0


def _r_of(records) -> int:
    return int(min(int(r.get("r") or 2) for r in records))


class TaskLawModel:
    def __init__(self, records: list[dict], task: str = "task", method: str = DEFAULT_METHOD, n_draws: int | None = None,
                 seed: int = 0):
        if not records:
            raise AnalysisError(f"task {task}: no PassUntil records")
        if method not in METHODS:
            raise AnalysisError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        self.records, self.task, self.method, self.seed = records, task, method, seed
        self.by_model = group_by_model(records, task)

    def fit(self):
        if self.method == "instance":
            return InstanceTaskLawModel(self.records, task=self.task).fit()
        het = heterogeneity_test(self.records, self.task) if self.method == "glm" else {}
        if self.method == "glm":
            return self._fit_glm(het)
        return self._fit_wls(het)

    def _common(self, het) -> dict:
        if self.method == "wls":
            sizes, means, _ = mean_pu_table(self.by_model, self.task)
        else:
            sizes = np.array(list(self.by_model))
            means = np.array([np.mean([r["passes"] / r["samples"] for r in recs]) for recs in self.by_model.values()])
        return {"task": self.task, "method": self.method, "r": _r_of(self.records),
                "n_instances": len({r["instance_id"] for r in self.records}),
                "n_censored": int(sum(bool(r["censored"]) for r in self.records)),
                "mean_pu": {f"{n:.6g}": float(m) for n, m in zip(sizes, means)}, "heterogeneity": het,
                "provenance": provenance()}

    def _fit_wls(self, het) -> TaskLawResults:
        sizes, means, _ = mean_pu_table(self.by_model, self.task)
        if len(sizes) < 3:
            raise AnalysisError(f"task {self.task}: least squares on {len(sizes)} sizes leaves no degrees of freedom; "
                                "use the instance method or add model sizes")
        fit = sm.OLS(f_of(means), sm.add_constant(np.log(sizes))).fit()
        flip = np.diag([1.0, -1.0])  # (intercept, slope) = (log c, -alpha)
        return TaskLawResults(
            why="requested: least squares on log(-log mean PU) per size, equal weights, t with n_sizes - 2 df",
            log_c=float(fit.params[0]), alpha=float(-fit.params[1]), cov=(flip @ fit.cov_params() @ flip).tolist(),
            df_resid=float(fit.df_resid), resid_var=float(fit.scale), gof={"r2": float(fit.rsquared)}, **self._common(het))

    def _fit_glm(self, het) -> TaskLawResults:
        if het["differ"]:
            raise AnalysisError(f"task {self.task}: instances differ in pass rate (LR {het['lr']:.1f} on {het['df']} df, "
                                f"p = {het['p_value']:.2g}); the pooled GLM would track the easiest instances; use --method instance")
        _, sizes, t, passes, samples, t0 = instance_arrays(self.records, self.task)
        theta, cov, ok = fit_two(t[:1], passes.sum(0, keepdims=True), samples.sum(0, keepdims=True))
        if not ok[0]:
            raise AnalysisError(f"task {self.task}: the pooled GLM did not converge; use --method instance")
        a, b = theta[0]
        jac = np.array([[1.0, t0], [0.0, 1.0]])  # log c = a + b t0, alpha = b
        return TaskLawResults(why=f"requested; instances pass the heterogeneity check (p = {het['p_value']:.2g})",
                              log_c=float(a + b * t0), alpha=float(b), cov=(jac @ cov[0] @ jac.T).tolist(), df_resid=None,
                              resid_var=0.0, **self._common(het))


def heterogeneity_test(records: list[dict], task: str) -> dict:
    """Likelihood ratio: one law shared by all instances (2 parameters) against each instance's own
    (2 per instance that passed at 2+ sizes, 1 per instance that passed at one size, 0 for none)."""
    _, _, t, passes, samples, _ = instance_arrays(records, task)
    pooled, _, ok = fit_two(t[:1], passes.sum(0, keepdims=True), samples.sum(0, keepdims=True))
    ll_pooled = float(loglik(pooled[0, 0] - pooled[0, 1] * t, passes, samples).sum())
    n_pass = (passes > 0).sum(1)
    two = n_pass >= 2
    ll_own, k = 0.0, 0
    if two.any():
        theta, _, _ = fit_two(t[two], passes[two], samples[two])
        ll_own += float(loglik(theta[:, :1] - theta[:, 1:] * t[two], passes[two], samples[two]).sum())
        k += 2 * int(two.sum())
    one = n_pass == 1
    if one.any():  # one free parameter: each size's own rate where it passed is the saturated fit
        rate = np.where(samples[one] > 0, passes[one] / np.maximum(samples[one], 1), 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(passes[one] > 0, passes[one] * np.log(rate), 0.0) + np.where(
                samples[one] - passes[one] > 0, (samples[one] - passes[one]) * np.log1p(-rate), 0.0)
        ll_own += float(terms.sum())
        k += int(one.sum())
    df = max(k - 2, 1)
    lr = max(2 * (ll_own - ll_pooled), 0.0)
    p = float(stats.chi2.sf(lr, df))
    return {"lr": lr, "df": df, "p_value": p, "differ": bool(p < HETEROGENEITY_LEVEL), "level": HETEROGENEITY_LEVEL}


class InstanceTaskLawModel:
    """IPU: the task law fitted per instance (maximum likelihood), predictions averaged over instances."""

    def __init__(self, records: list[dict], task: str = "task", n_boot: int | None = None, seed: int = 0):
        if not records:
            raise AnalysisError(f"task {task}: no PassUntil records")
        self.records, self.task, self.seed = records, task, seed  # n_boot: kept for old callers; draws are analytic

    def fit(self) -> InstanceTaskLawResults:
        ids, sizes, t, passes, samples, t0 = instance_arrays(self.records, self.task)
        n_pass = (passes > 0).sum(1)
        two = np.flatnonzero(n_pass >= 2)
        theta, cov, ok = fit_two(t[two], passes[two], samples[two]) if len(two) else (np.zeros((0, 2)), np.zeros((0, 2, 2)), np.zeros(0, bool))
        good = ok & (np.sqrt(np.abs(cov[:, 1, 1])) < 5) if len(two) else ok
        if not good.any():
            raise AnalysisError(f"task {self.task}: no instance passed at 2 or more model sizes; the instance law cannot "
                                "be fitted (raise --max-samples or add model sizes)")
        mean, mean_var, tau2, b_fit, var_b_fit, load_fit = shrink_slopes(theta[good, 1], cov[good, 1, 1])
        rows = np.concatenate([two[good], np.flatnonzero(n_pass == 1), two[~good]]).astype(int)
        n_fit = int(good.sum())
        b = np.concatenate([b_fit, np.full(len(rows) - n_fit, mean)])
        var_b = np.concatenate([var_b_fit, np.full(len(rows) - n_fit, tau2)])
        loading = np.concatenate([load_fit, np.ones(len(rows) - n_fit)])
        a, var_a, centre = fit_intercept(t[rows], passes[rows], samples[rows], b)
        zero = np.flatnonzero(n_pass == 0)
        results = InstanceTaskLawResults(
            task=self.task, method="instance",
            why="default: per-instance likelihood holds bias and prediction coverage with alike, differing and censored "
                "instances (issue 15 simulation); the pooled GLM and least squares on the mean do not",
            t0=t0, a=a.tolist(), b=b.tolist(), var_a=var_a.tolist(), var_b=var_b.tolist(), centre=centre.tolist(),
            slope_loading=loading.tolist(),
            status=["fitted"] * n_fit + ["shared_slope"] * (len(rows) - n_fit), instance_ids=[ids[i] for i in rows],
            slope_mean=mean, slope_mean_var=mean_var, slope_tau2=tau2,
            zero_ids=[ids[i] for i in zero], zero_samples=samples[zero].tolist(), zero_t=t[zero].tolist(),
            r=_r_of(self.records), n_censored=int(sum(bool(r["censored"]) for r in self.records)),
            mean_pu=_mean_pu_for_plot(self.records, sizes), heterogeneity=heterogeneity_test(self.records, self.task),
            n_unconverged=int((~ok).sum()), provenance=provenance())
        results.line_spec = _line_spec(self.records, self.task, results)
        return results


def _line_spec(records, task, results=None) -> dict:
    """A (log c, alpha, cov) line for readers that draw it themselves: least squares on the mean PU, or, where a
    size's mean PU is 0, through the instance model's mean PU at the fitted sizes (labelled by its method)."""
    try:
        return TaskLawModel(records, task=task, method="wls").fit()._law_spec()
    except AnalysisError:
        pass
    if results is None:
        return {}
    sizes = np.array([float(k) for k in results.mean_pu])
    pu = np.clip(results.predict(sizes, measured=False).estimate, 1e-300, 1 - 1e-12)
    fit = sm.OLS(f_of(pu), sm.add_constant(np.log(sizes))).fit()
    flip = np.diag([1.0, -1.0])
    # Two sizes leave no residual degree of freedom: the line is exact and its covariance unknown (NaN, not a warning).
    cov = flip @ fit.cov_params() @ flip if fit.df_resid > 0 else np.full((2, 2), np.nan)
    return {"log_c": float(fit.params[0]), "alpha": float(-fit.params[1]), "cov": cov.tolist(),
            "df": float(max(fit.df_resid, 1)), "method": "line through the instance model's mean PU"}


def _mean_pu_for_plot(records, sizes) -> dict:
    """Each size's mean instance PU (unbiased estimates where recorded, else the MLE)."""
    out = {}
    for n in sizes:
        vals = [r["pu_unbiased"] if r.get("pu_unbiased") is not None else r["pu_mle"] for r in records if float(r["params"]) == n]
        out[f"{n:.6g}"] = float(np.mean(vals))
    return out
