"""The task scaling law of Hu et al. 2024: PU(N) = exp(-c N^-alpha), i.e. F = log(-log PU) = log c - alpha log N.

Input: PassUntil records (one per instance and model: passes, samples, censored, the model's N).
Under inverse sampling the likelihood of p is p^passes (1 - p)^(samples - passes), the binomial
kernel, censored instances included, so binomial likelihoods are exact here.

- Dataset level, `method="wls"` (default, the paper's quantity): the mean instance PU per model,
  F against log N by weighted least squares (statsmodels WLS), weights from the delta method with the
  between-instance variance of the mean. `method="glm"`: a binomial GLM with the log-log link
  (-log(-log p) = alpha log N - log c) on every instance row: one pass rate shared by the instances.
- Instance level (IPU): a log-log binomial GLM per instance; predictions averaged over instances.
  Rule for instances with fewer than 2 models that ever passed (no slope can be fitted): they keep
  their pass rate at the largest model (0 if they never passed), and are counted.
Prediction at a target N comes with a 95% interval (WLS: on the mean of F; IPU: bootstrap over instances).
"""
from __future__ import annotations

import math
import warnings
from collections import defaultdict

import numpy as np
import statsmodels.api as sm

from analysis.results import AnalysisError, FitResults


def record_pu(record: dict) -> float:
    """An instance's PassUntil estimate: the unbiased one where the record has it, else the MLE."""
    value = record.get("pu_unbiased")
    return float(record["pu_mle"] if value is None else value)


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


def f_of(pu):
    return np.log(-np.log(pu))


def pu_of(f):
    return np.exp(-np.exp(f))


class TaskLawModel:
    def __init__(self, records: list[dict], task: str = "task", method: str = "wls"):
        if not records:
            raise AnalysisError(f"task {task}: no PassUntil records")
        if method not in ("wls", "glm"):
            raise AnalysisError(f"method must be wls or glm, got {method!r}")
        self.records, self.task, self.method = records, task, method
        self.by_model = group_by_model(records, task)

    def fit(self) -> FitResults:
        sizes, means, variances = mean_pu_table(self.by_model, self.task)
        x = np.log(sizes)
        X = sm.add_constant(x)
        if self.method == "wls":
            # Delta method: Var F = Var(mean PU) / (PU log PU)^2; a floor keeps one tight model from dominating.
            var_f = np.maximum(variances / (means * np.log(means)) ** 2, 1e-4)
            fit = sm.WLS(f_of(means), X, weights=1.0 / var_f).fit()
            intercept, slope = fit.params
            ci = fit.conf_int(0.05)
            log_c, log_c_ci, alpha, alpha_ci = intercept, ci[0], -slope, (-ci[1][1], -ci[1][0])
            predictor = lambda N: self._predict_wls(fit, N)  # noqa: E731
            gof = {"r2": float(fit.rsquared), "df_resid": float(fit.df_resid)}
        else:
            rows = [(math.log(n), r["passes"], r["samples"] - r["passes"]) for n, recs in self.by_model.items() for r in recs]
            arr = np.array(rows)
            family = sm.families.Binomial(link=sm.families.links.LogLog())
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = sm.GLM(arr[:, 1:], sm.add_constant(arr[:, 0]), family=family).fit()
            beta0, beta1 = fit.params  # -log(-log p) = beta0 + beta1 log N
            ci = fit.conf_int(0.05)
            log_c, log_c_ci, alpha, alpha_ci = -beta0, (-ci[0][1], -ci[0][0]), beta1, tuple(ci[1])
            predictor = lambda N: self._predict_glm(fit, N)  # noqa: E731
            gof = {"deviance": float(fit.deviance), "df_resid": float(fit.df_resid)}
        cov = np.asarray(fit.cov_params())
        # (log c, alpha) and their covariance: WLS has (intercept, slope) = (log c, -alpha); GLM (-log c, alpha).
        flip = np.diag([1.0, -1.0]) if self.method == "wls" else np.diag([-1.0, 1.0])
        cov = flip @ cov @ flip
        c = math.exp(log_c)
        results = FitResults(
            law="task_law", formula="PU(N) = exp(-c N^-alpha)",
            params={"c": c, "alpha": float(alpha), "log_c": float(log_c)},
            intervals={"c": (math.exp(log_c_ci[0]), math.exp(log_c_ci[1])), "alpha": tuple(map(float, alpha_ci)),
                       "log_c": tuple(map(float, log_c_ci))},
            data={"task": self.task, "method": self.method, "n_models": len(sizes),
                  "n_instances": len({r["instance_id"] for r in self.records}),
                  "n_censored": int(sum(bool(r["censored"]) for r in self.records)),
                  "N_min": float(sizes.min()), "N_max": float(sizes.max()),
                  "mean_pu": {f"{n:.6g}": float(m) for n, m in zip(sizes, means)}},
            gof=gof,
            extra={"law_spec": {"log_c": float(log_c), "alpha": float(alpha), "cov": cov.tolist()}},
        )
        results.predictor = predictor
        results.table = (sizes, means, variances)
        return results

    @staticmethod
    def _predict_wls(fit, N):
        N = np.atleast_1d(np.asarray(N, float))
        frame = fit.get_prediction(sm.add_constant(np.log(N), has_constant="add")).summary_frame(alpha=0.05)
        return pu_of(frame["mean"].to_numpy()), pu_of(frame["mean_ci_upper"].to_numpy()), pu_of(frame["mean_ci_lower"].to_numpy())

    @staticmethod
    def _predict_glm(fit, N):
        N = np.atleast_1d(np.asarray(N, float))
        frame = fit.get_prediction(sm.add_constant(np.log(N), has_constant="add")).summary_frame(alpha=0.05)
        return frame["mean"].to_numpy(), frame["mean_ci_lower"].to_numpy(), frame["mean_ci_upper"].to_numpy()


class InstanceTaskLawModel:
    """IPU: the task law fitted per instance, predictions averaged over instances."""

    def __init__(self, records: list[dict], task: str = "task", n_boot: int = 1000, seed: int = 0):
        if not records:
            raise AnalysisError(f"task {task}: no PassUntil records")
        self.task, self.n_boot, self.seed = task, n_boot, seed
        group_by_model(records, task)  # validates sizes
        self.instances: dict[str, list[dict]] = defaultdict(list)
        for rec in records:
            self.instances[rec["instance_id"]].append(rec)

    def fit(self) -> FitResults:
        family = sm.families.Binomial(link=sm.families.links.LogLog())
        fitted, carried = {}, {}
        for inst, recs in self.instances.items():
            recs = sorted(recs, key=lambda r: float(r["params"]))
            if sum(r["passes"] > 0 for r in recs) < 2 or len(recs) < 2:
                carried[inst] = record_pu(recs[-1])  # the stated rule: too few non-zero points to fit a slope
                continue
            arr = np.array([(math.log(float(r["params"])), r["passes"], r["samples"] - r["passes"]) for r in recs])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    fit = sm.GLM(arr[:, 1:], sm.add_constant(arr[:, 0]), family=family).fit()
                except Exception:  # perfect separation and the like: treat as too few points
                    carried[inst] = record_pu(recs[-1])
                    continue
            if not np.all(np.isfinite(fit.params)):
                carried[inst] = record_pu(recs[-1])
                continue
            fitted[inst] = (fit.params, fit.cov_params())
        if not fitted:
            raise AnalysisError(f"task {self.task}: no instance passed at 2 or more model sizes; IPU cannot be fitted "
                                "(raise --max-samples or add model sizes)")
        alphas = np.array([p[1] for p, _ in fitted.values()])
        results = FitResults(
            law="task_law_instance", formula="IPU(N) = mean_i exp(-c_i N^-alpha_i)",
            params={"alpha_median": float(np.median(alphas)), "alpha_mean": float(alphas.mean())},
            intervals={"alpha_median": tuple(map(float, np.quantile(alphas, [0.25, 0.75]))),
                       "alpha_mean": (float(alphas.mean() - 1.96 * alphas.std(ddof=1) / math.sqrt(len(alphas))) if len(alphas) > 1 else math.nan,
                                      float(alphas.mean() + 1.96 * alphas.std(ddof=1) / math.sqrt(len(alphas))) if len(alphas) > 1 else math.nan)},
            data={"task": self.task, "n_instances": len(self.instances), "n_fitted": len(fitted), "n_carried": len(carried),
                  "rule": "instances with fewer than 2 models that passed keep their pass rate at the largest model"},
            gof={},
            extra={"instance_params": {k: {"beta0": float(v[0]), "alpha": float(v[1])} for k, (v, _) in fitted.items()}},
        )
        results.predictor = lambda N: self._predict(fitted, carried, N)
        return results

    def _predict(self, fitted, carried, N):
        """Mean predicted PU; the interval resamples instances and draws each fitted instance's
        parameters from their asymptotic normal distribution, so it carries both sources of error."""
        N = np.atleast_1d(np.asarray(N, float))
        logN = np.log(N)

        def pu(b0, b1):
            return np.exp(-np.exp(-(b0 + b1 * logN)))

        point = np.array([pu(*params) for params, _ in fitted.values()] + [np.full(len(N), v) for v in carried.values()])
        rng = np.random.default_rng(self.seed)
        fitted_list, carried_list = list(fitted.values()), list(carried.values())
        total = len(fitted_list) + len(carried_list)
        boots = []
        for _ in range(self.n_boot):
            rows = []
            for k in rng.integers(0, total, total):
                if k < len(fitted_list):
                    params, cov = fitted_list[k]
                    rows.append(pu(*rng.multivariate_normal(params, cov)))
                else:
                    rows.append(np.full(len(N), carried_list[k - len(fitted_list)]))
            boots.append(np.mean(rows, axis=0))
        boots = np.array(boots)
        return point.mean(axis=0), np.quantile(boots, 0.025, axis=0), np.quantile(boots, 0.975, axis=0)
