"""Performance against pre-training loss, per task (Du et al. 2024).

z is performance above random: value - random_baseline for metrics where higher is better, and
random_baseline - value where lower is better (Brier), so z = 0 is random guessing and z > 0 better.
L is the checkpoint's validation loss. Three models of z(L):

- smooth:  z = a + b (L_max - L)                              (no threshold)
- hinge:   z = c0 + s max(0, eta - L)^k                        (continuous; k = 1 linear rise, else power)
- jump:    z = c0 + [j + s (eta - L)] 1[L < eta]               (a leap at eta, then a linear rise)

For fixed eta (and k) the threshold models are linear in their other parameters, so they are fitted
by ordinary least squares (statsmodels) along a profile over eta; eta's interval is the union of the
profile-likelihood interval (n log RSS(eta)/RSS_min <= chi2_1(0.95)) and a wild-bootstrap percentile
interval (a change point makes the likelihood irregular, and the profile alone undercovers); the
other parameters' intervals come from OLS at the best eta.
Models are compared by BIC. A task is **emergent** when the best threshold model beats the smooth one
by more than 6 BIC points, eta lies inside the data with points on both sides, and performance above
eta is indistinguishable from random (a t-test of mean z = 0 at level 0.05); otherwise **smooth**.

The collapse test asks whether model size N or tokens D explain performance beyond loss: nested OLS,
z ~ spline(L) against z ~ spline(L) + log N + log D, with an F-test, p-value and the partial R^2.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import statsmodels.api as sm
from scipy import stats
from scipy.optimize import minimize_scalar

from analysis import curve_family
from analysis.results import (AnalysisError, FitResults, LossCurveResults, bound_flags, gaussian_loglik,
                              require_finite)

DEFAULT_MARGIN = 0.01  # the collapse test's equivalence margin: one point of a [0, 1] score (`fit loss-curve --margin 1`)

MIN_POINTS = 6
EMERGENT_DELTA_BIC = 6.0
# "At random above the threshold" is tested two ways, either enough: the mean is not distinguishable from the
# baseline (t-test, p > 0.05), or it is practically at the baseline: its one-sided 95% upper bound lies within
# this share of the metric's rise above the baseline. A generative task's floor is a few lucky guesses, not
# exactly 0, and with many checkpoints a t-test alone rejects "random" for a rise of 1% in a curve that
# later climbs to 40%.
RANDOM_MARGIN = 0.10
# Directions of metrics whose name is enough, for tables without a higher_is_better column. Anything
# else must say its direction: a name's shape is no evidence (`..._bpb` is lower-is-better).
KNOWN_DIRECTION = {"acc": True, "acc_norm": True, "exact_match": True, "em": True, "f1": True, "mc1": True, "mc2": True,
                   "bleu": True, "rouge1": True, "rougeL": True, "pass@1": True, "accuracy": True, "top1_acc": True,
                   "brier_score": False, "brier": False, "nll": False, "perplexity": False, "word_perplexity": False,
                   "byte_perplexity": False, "bits_per_byte": False, "bpb": False, "top1_error": False}


def higher_is_better(metric: str, declared=None) -> bool:
    """The metric's direction: the table's higher_is_better value when given, else a known metric name."""
    if isinstance(declared, bool):
        return declared
    if declared not in (None, ""):
        text = str(declared).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
        raise AnalysisError(f"metric {metric!r}: higher_is_better is {declared!r}; use true or false")
    name = metric.split(",")[0]  # lm-eval writes "acc,none"
    if name in KNOWN_DIRECTION:
        return KNOWN_DIRECTION[name]
    raise AnalysisError(f"metric {metric!r}: its direction is unknown; add a higher_is_better column (true/false) "
                        "to the table")


def _known(baseline) -> bool:
    return baseline is not None and not (isinstance(baseline, float) and math.isnan(baseline))


def normalise(values, baselines, metric: str, declared=None) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    baselines = np.asarray([b if _known(b) else 0.0 for b in baselines], float)
    return values - baselines if higher_is_better(metric, declared) else baselines - values


@dataclass
class _Fit:
    name: str
    eta: float | None
    k: float | None
    rss: float
    n_mean_params: int
    ols: Any  # a statsmodels OLS results object

    def threshold(self) -> float:
        """eta of a threshold fit (hinge, hinge_power, jump); the smooth fit has none."""
        if self.eta is None:
            raise AnalysisError(f"the {self.name} fit has no threshold eta")
        return self.eta

    def exponent(self) -> float:
        """k of a threshold fit (1 for hinge and jump); the smooth fit has none."""
        if self.k is None:
            raise AnalysisError(f"the {self.name} fit has no exponent k")
        return self.k

    def loglik(self, n: int) -> float:
        return gaussian_loglik(self.rss, n)

    def bic(self, n: int) -> float:
        return (self.n_mean_params + 1) * math.log(n) - 2 * self.loglik(n)

    def aic(self, n: int) -> float:
        return 2 * (self.n_mean_params + 1) - 2 * self.loglik(n)


def _design(name: str, loss: np.ndarray, eta: float, k: float = 1.0) -> np.ndarray:
    gap = np.clip(eta - loss, 0.0, None)
    below = (loss < eta).astype(float)
    if name == "hinge":
        return np.column_stack([np.ones_like(loss), gap ** k])
    if name == "jump":
        return np.column_stack([np.ones_like(loss), below, gap])
    raise ValueError(name)


def model_design(model: str, loss: np.ndarray, eta: float | None, k: float | None, loss_max: float) -> np.ndarray:
    """The design matrix of a fitted curve (smooth, hinge, hinge_power or jump) at the given losses."""
    loss = np.atleast_1d(np.asarray(loss, float))
    if model == "smooth":
        return np.column_stack([np.ones_like(loss), loss_max - loss])
    if eta is None:
        raise AnalysisError(f"a {model} curve needs its threshold eta; the model spec has none")
    if model == "jump":
        return _design("jump", loss, eta)
    if k is None:
        raise AnalysisError(f"a {model} curve needs its exponent k; the model spec has none")
    return _design("hinge", loss, eta, k)


def _ols(z, X):
    return sm.OLS(z, X).fit()


class LossCurveModel:
    """z(L) for one task; `.fit()` compares the smooth, hinge (linear and power) and jump models."""

    def __init__(self, loss, value, random_baseline=None, metric: str = "acc", task: str = "task",
                 higher_is_better=None):
        self.task, self.metric, self.declared = task, metric, higher_is_better
        self.loss = require_finite(loss, f"task {task}: loss")
        value = require_finite(value, f"task {task}: {metric}")
        baseline = random_baseline if random_baseline is not None else [0.0] * len(value)
        self.z = normalise(value, baseline, metric, higher_is_better)
        known = [float(b) for b in baseline if _known(b)]
        self.has_baseline = random_baseline is not None and bool(known)
        self.mean_baseline = float(np.mean(known)) if known else 0.0
        if len(self.loss) < MIN_POINTS:
            raise AnalysisError(f"task {task}: {len(self.loss)} checkpoints; a loss curve needs at least {MIN_POINTS}")
        if np.ptp(self.loss) <= 0:
            raise AnalysisError(f"task {task}: every checkpoint has the same loss; nothing to fit against")
        if np.ptp(value) <= 0:
            raise AnalysisError(f"task {task}: {metric} is {value[0]:g} at every checkpoint; nothing to fit "
                                "(PassUntil resolves such tasks)")

    # ---------------------------------------------------------------- profiles
    def _candidates(self) -> np.ndarray:
        lo, hi = np.sort(self.loss)[[1, -2]]  # at least one point on each side
        grid = np.unique(np.concatenate([np.linspace(lo, hi, 60), (np.sort(self.loss)[1:-1] + np.sort(self.loss)[2:]) / 2]))
        return grid[(grid > lo) & (grid <= hi)]

    def _profile(self, name: str, k: float = 1.0):
        def rss(eta):
            return _ols(self.z, _design(name, self.loss, eta, k)).ssr

        grid = self._candidates()
        values = np.array([rss(e) for e in grid])
        best = int(values.argmin())
        # Refine inside the neighbouring grid cells (the hinge profile is smooth there; the jump's is a step).
        lo, hi = grid[max(0, best - 1)], grid[min(len(grid) - 1, best + 1)]
        eta = grid[best]
        if name == "hinge" and hi > lo:
            opt = minimize_scalar(rss, bounds=(lo, hi), method="bounded", options={"xatol": 1e-6})
            if opt.fun < values[best]:
                eta = float(opt.x)
        return eta, grid, values

    def _fit_threshold(self, name: str, k: float = 1.0) -> tuple[_Fit, np.ndarray, np.ndarray]:
        """The best fit along the profile, with the profile itself (grid of eta, RSS at each)."""
        eta, grid, values = self._profile(name, k)
        ols = _ols(self.z, _design(name, self.loss, eta, k))
        n_params = {"hinge": 3, "jump": 4}[name] + (1 if k != 1.0 else 0)
        return _Fit(name if k == 1.0 else "hinge_power", eta, k, ols.ssr, n_params, ols), grid, values

    def _fit_smooth(self) -> _Fit:
        X = sm.add_constant(self.loss.max() - self.loss)
        ols = _ols(self.z, X)
        return _Fit("smooth", None, None, ols.ssr, 2, ols)

    def _eta_interval(self, grid, values, fit: "_Fit") -> tuple[float, float]:
        """Profile-likelihood interval, widened to cover a wild-bootstrap percentile interval.

        The likelihood is not regular at a change point, so the chi-square calibration of the profile
        alone undercovers (82% for a nominal 95% in our simulations); the union is what we report.
        `grid` and `values` are the profile the fit searched (RSS at each eta); the estimate itself
        has the fit's RSS.
        """
        n = len(self.z)
        limit = stats.chi2.ppf(0.95, 1)
        eta = fit.threshold()
        profile = list(zip(grid, values)) + [(eta, fit.rss)]
        inside = [e for e, rss in profile if n * math.log(max(rss, 1e-300) / max(fit.rss, 1e-300)) <= limit]
        low, high = (min(inside), max(inside)) if inside else (eta, eta)
        boot_low, boot_high = self._bootstrap_eta(fit, np.linspace(grid.min(), grid.max(), 240))
        return min(low, boot_low), max(high, boot_high)

    def _bootstrap_eta(self, fit: "_Fit", grid: np.ndarray, n_boot: int = 400) -> tuple[float, float]:
        """Wild bootstrap (Rademacher signs on residuals): refit eta on a grid, all designs at once."""
        name = "jump" if fit.name == "jump" else "hinge"
        X = np.stack([_design(name, self.loss, e, fit.k or 1.0) for e in grid])  # (G, n, p)
        # Per-grid projection: RSS(e) = |z|^2 - z' X (X'X)^-1 X' z, via a pseudo-inverse per design.
        pinv = np.linalg.pinv(X)  # (G, p, n)
        rng = np.random.default_rng(0)
        fitted, resid = fit.ols.fittedvalues, fit.ols.resid
        signs = rng.choice([-1.0, 1.0], size=(n_boot, len(resid)))
        Z = fitted[None, :] + signs * resid[None, :]  # (B, n)
        coef = np.einsum("gpn,bn->bgp", pinv, Z)
        rss = ((Z[:, None, :] - np.einsum("gnp,bgp->bgn", X, coef)) ** 2).sum(axis=2)  # (B, G)
        etas = grid[rss.argmin(axis=1)]
        return float(np.quantile(etas, 0.025)), float(np.quantile(etas, 0.975))

    # ---------------------------------------------------------------- fit
    def fit(self) -> FitResults:
        n = len(self.z)
        smooth = self._fit_smooth()
        power_fits = [self._fit_threshold("hinge", k) for k in (0.5, 2.0)]
        candidates = {"hinge": self._fit_threshold("hinge"), "jump": self._fit_threshold("jump"),
                      "hinge_power": min(power_fits, key=lambda f: f[0].rss)}
        hinge, jump, power = (candidates[name][0] for name in ("hinge", "jump", "hinge_power"))
        best_name = min(candidates, key=lambda name: candidates[name][0].bic(n))
        best, grid, values = candidates[best_name]
        delta_bic = smooth.bic(n) - best.bic(n)

        eta_low, eta_high = self._eta_interval(grid, values, best)
        above = self.z[self.loss >= best.eta]
        below_count = int((self.loss < best.eta).sum())
        if len(above) >= 2 and np.std(above) > 0:
            p_random = float(stats.ttest_1samp(above, 0.0).pvalue)
            upper = float(above.mean() + stats.t.ppf(0.95, len(above) - 1) * above.std(ddof=1) / np.sqrt(len(above)))
        else:
            p_random = 1.0 if len(above) >= 2 and np.allclose(above, 0) else 0.0
            upper = float(above.mean()) if len(above) else math.inf
        rise = float(self.z.max())
        practically_random = rise > 0 and upper <= RANDOM_MARGIN * rise
        # Without a random baseline (NLL metrics) "random above eta" cannot be tested, so no claim of emergence.
        at_random = self.has_baseline and (p_random > 0.05 or practically_random)
        emergent = bool(delta_bic > EMERGENT_DELTA_BIC and below_count >= 2 and len(above) >= 3 and at_random)

        chosen = best if emergent else smooth
        ci = chosen.ols.conf_int(0.05)
        if chosen.name == "smooth":
            names = ["a", "b"]
        elif chosen.name == "jump":
            names = ["c0", "j", "s"]
        else:
            names = ["c0", "s"]
        params = {name: float(v) for name, v in zip(names, chosen.ols.params)}
        intervals = {name: (float(lo), float(hi)) for name, (lo, hi) in zip(names, ci)}
        if chosen.eta is not None:
            params["eta"], intervals["eta"] = float(chosen.eta), (float(eta_low), float(eta_high))
            if chosen.k != 1.0:
                params["k"] = float(chosen.exponent())
        formula = {
            "smooth": "z = a + b (L_max - L)",
            "hinge": "z = c0 + s max(0, eta - L)",
            "hinge_power": f"z = c0 + s max(0, eta - L)^k (k = {chosen.k})",
            "jump": "z = c0 + [j + s (eta - L)] 1[L < eta]",
        }[chosen.name]
        pearson = stats.pearsonr(self.loss, self.z)
        spearman = stats.spearmanr(self.loss, self.z)
        results = FitResults(
            law="loss_curve", formula=formula, params=params, intervals=intervals,
            data={"task": self.task, "metric": self.metric, "n_checkpoints": n, "loss_min": float(self.loss.min()),
                  "loss_max": float(self.loss.max()), "z_min": float(self.z.min()), "z_max": float(self.z.max()),
                  "has_random_baseline": self.has_baseline},
            gof={"model": chosen.name, "rss": chosen.rss, "r2": float(chosen.ols.rsquared), "bic": chosen.bic(n),
                 "aic": chosen.aic(n)},
            extra={"classification": "emergent" if emergent else "smooth", "delta_bic_threshold_vs_smooth": delta_bic,
                   "best_threshold_model": best_name, "threshold_eta": float(best.threshold()),
                   "threshold_eta_interval": [float(eta_low), float(eta_high)],
                   "p_above_threshold_is_random": p_random, "upper_above_threshold": upper,
                   "random_margin": RANDOM_MARGIN * rise, "points_below_threshold": below_count,
                   "pearson_r": float(pearson.statistic), "pearson_p": float(pearson.pvalue),
                   "spearman_rho": float(spearman.statistic), "spearman_p": float(spearman.pvalue),
                   "models": {f.name: {"bic": f.bic(n), "aic": f.aic(n), "rss": f.rss, "eta": f.eta}
                              for f in (smooth, hinge, jump, power)}},
        )
        results.extra["model_spec"] = {  # what `emergent predict` needs to evaluate the curve with intervals
            "model": chosen.name, "coef": [float(v) for v in chosen.ols.params],
            "cov": [[float(v) for v in row] for row in np.asarray(chosen.ols.cov_params())],
            "eta": None if chosen.eta is None else float(chosen.eta), "k": chosen.k, "loss_max": float(self.loss.max()),
            "higher_is_better": higher_is_better(self.metric, self.declared), "random_baseline": self.mean_baseline}
        results.predictor = lambda loss, _c=chosen: self._predict(_c, loss)
        return results

    def _predict(self, fit: _Fit, loss):
        """z at the given loss(es), with a 95% interval on the mean (eta held at its estimate)."""
        X = model_design(fit.name, loss, fit.eta, fit.k, self.loss.max())
        pred = fit.ols.get_prediction(X).summary_frame(alpha=0.05)
        return (pred["mean"].to_numpy(), pred["mean_ci_lower"].to_numpy(), pred["mean_ci_upper"].to_numpy())


def evaluate_spec(spec: dict, loss: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """z(L) for a serialised curve (`model_spec`) and one coefficient vector."""
    return model_design(spec["model"], loss, spec["eta"], spec["k"], spec["loss_max"]) @ coef


def metric_ceiling(values: np.ndarray, higher: bool) -> float | None:
    """The metric's best possible value: 1 for a score in [0, 1], 0 for a non-negative lower-is-better metric."""
    if higher:
        return 1.0 if values.min() >= 0 and values.max() <= 1 else None
    return 0.0 if values.min() >= 0 else None


def fit_performance_curve(loss, value, random_baseline=None, params=None, runs=None, metric: str = "acc",
                          task: str = "task", higher=None, model: str = "auto", n_boot: int = 200,
                          seed: int = 0, classify: bool = True) -> LossCurveResults:
    """The curve used for prediction (chosen by held-out error across runs, see curve_family), its
    bootstrap over runs, and, separately, the emergence classification of LossCurveModel."""
    loss = require_finite(loss, f"task {task}: loss")
    value = require_finite(value, f"task {task}: {metric}")
    hib = higher_is_better(metric, higher)
    known = [float(b) for b in (random_baseline or []) if _known(b)]
    base = float(np.mean(known)) if known else 0.0
    z = (value - base) if hib else (base - value)
    best = metric_ceiling(value, hib)
    ceiling = None if best is None else (best - base if hib else base - best)
    floor, l_ref = float(min(0.0, z.min())), float(loss.max())
    params = np.ones_like(loss) if params is None else require_finite(params, f"task {task}: params")
    runs = np.arange(len(loss)) if runs is None else np.asarray(runs)
    if len(loss) < MIN_POINTS or np.ptp(loss) <= 0:
        raise AnalysisError(f"task {task}: {len(loss)} rows over {np.ptp(loss):.3g} of loss; a curve needs at least "
                            f"{MIN_POINTS} rows at different losses")
    candidates = curve_family.available(curve_family.MODELS, ceiling, len(loss))
    if model in curve_family.BASELINES:
        candidates = curve_family.available((model,), ceiling, len(loss))
    if model != "auto" and model not in candidates:
        raise AnalysisError(f"task {task}: model {model!r} is not available here (candidates: {', '.join(candidates)}; "
                            "sigmoid needs a bounded metric)")
    selection = curve_family.select_model(loss, z, params, runs, candidates, ceiling, floor, l_ref)
    if model != "auto":
        selection = {**selection, "chosen": model, "criterion": f"--model {model} (held-out RMSE shown for reference)",
                     "rule": f"fixed by --model {model}"}
    chosen = selection["chosen"]
    theta = curve_family.fit_model(chosen, loss, z, ceiling, l_ref)
    resid = z - curve_family.evaluate(chosen, theta, loss, ceiling, floor, l_ref)
    draws = curve_family.bootstrap_runs(chosen, theta, loss, z, runs, ceiling, l_ref, n_boot, seed) if n_boot else theta[None, :]
    heldout = selection.pop("last_fold_residuals", {})
    choices = curve_family.resampled_choices(selection, n_boot, seed) if model == "auto" and n_boot else []
    selection.pop("heldout_residuals", None), selection.pop("heldout_runs", None)
    scatter, quantiles = _scatter(heldout.get(chosen), resid, runs)
    growth_of = lambda m: _growth(m, loss, z, params, ceiling, floor, l_ref, runs)  # noqa: E731
    mixture = {}
    for i, other in enumerate(sorted(set(choices) - {chosen})):
        count = choices.count(other)
        start = curve_family.fit_model(other, loss, z, ceiling, l_ref)
        other_resid = z - curve_family.evaluate(other, start, loss, ceiling, floor, l_ref)
        mixture[other] = {"share": count / len(choices), "params": [float(v) for v in start],
                          "draws": curve_family.bootstrap_runs(other, start, loss, z, runs, ceiling, l_ref, count,
                                                               seed + 1 + i).tolist(),
                          "residual_quantiles": [float(v) for v in _scatter(heldout.get(other), other_resid, runs)[1]],
                          "scatter_growth": growth_of(other)}
    if choices:
        selection["choice_shares"] = {m: choices.count(m) / len(choices) for m in sorted(set(choices))}
    try:
        if not classify:
            raise AnalysisError("not asked (classify=False)")
        legacy = LossCurveModel(loss, value, random_baseline, metric=metric, task=task, higher_is_better=hib).fit()
        classification, emergence = legacy.extra["classification"], legacy.to_dict()
        for key in ("versions", "git_revision", "model_spec"):
            emergence.pop(key, None)
    except AnalysisError as err:
        classification, emergence = "not tested", {"reason": str(err)}
    box = curve_family.param_bounds(chosen, loss, z, ceiling)
    # Only the point fit: each bootstrap refit has its own data-dependent bounds.
    flags = bound_flags(curve_family.PARAM_NAMES[chosen], theta, [], box, tol=1e-4) if box else []
    return LossCurveResults(
        task=task, metric=metric, model=chosen, params=dict(zip(curve_family.PARAM_NAMES[chosen], map(float, theta))),
        draws=draws.tolist(), residual_quantiles=[float(v) for v in quantiles], higher_is_better=hib,
        random_baseline=base, ceiling=ceiling, floor=floor, l_ref=l_ref, selection=selection,
        data={"n_checkpoints": int(len(loss)), "n_runs": int(len(np.unique(runs))), "n_sizes": int(len(np.unique(params))),
              "loss_min": float(loss.min()), "loss_max": float(loss.max()), "rmse": float(np.sqrt(np.mean(resid ** 2))),
              "bootstrap_refits": int(n_boot),
              "scatter": "in-sample residuals" if scatter is resid else "held-out residuals of the largest size (+-)"},
        classification=classification, emergence=emergence, flags=flags, mixture=mixture, scatter_growth=growth_of(chosen))


def _growth(model, loss, z, params, ceiling, floor, l_ref, runs) -> dict | None:
    """The held-out error's growth with extrapolation distance (curve_family.extrapolation_growth), with
    its standardised residuals as quantiles; None without three sizes and several runs."""
    if len(np.unique(runs)) < 2:
        return None
    params = np.asarray(params, float)
    resid, dist, size_dist, n_fits = curve_family.extrapolation_residuals(model, loss, z, params, ceiling, floor, l_ref)
    growth = curve_family.extrapolation_growth(resid, dist, float(loss.min()), size_dist, float(params.max()))
    if growth is None:
        return None
    u = growth.pop("standardised")
    growth["standardised_quantiles"] = [float(v) for v in (np.quantile(u, np.linspace(0, 1, 101)) if len(u) > 101 else np.sort(u))]
    growth["n_residuals"] = int(len(resid))
    growth["n_fits"] = int(n_fits)  # the extrapolation fits behind b: its degrees of freedom when pooled
    return growth


def _scatter(heldout, resid, runs):
    """The scatter a prediction must allow for: residuals of the largest size predicted from the smaller
    ones (run offsets, correlated checkpoints and extrapolation error together), symmetrised (one fold's
    extrapolation error has one sign and would shift the interval); else in-sample residuals.
    Returns (the residuals used, their quantiles as stored)."""
    heldout = np.asarray(heldout or [], float)
    scatter = np.concatenate([heldout, -heldout]) if len(heldout) >= 5 and len(np.unique(runs)) >= 2 else resid
    quantiles = np.quantile(scatter, np.linspace(0, 1, 101)) if len(scatter) > 101 else np.sort(scatter)
    return scatter, quantiles


def _run_budgets(tokens: np.ndarray, runs: np.ndarray) -> np.ndarray:
    """Each row's run budget (the run's largest token count): D of the run, not the schedule inside it."""
    budget = {r: tokens[runs == r].max() for r in np.unique(runs)}
    return np.array([budget[r] for r in runs])


WEBB = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])


def _cluster_wald(X, XtX_inv, y, codes, n_clusters, cols):
    """Cluster-robust Wald statistics of coefficients `cols` = 0 for each column of y (n, B)."""
    beta = XtX_inv @ X.T @ y  # (k, B)
    u = y - X @ beta
    scores = np.zeros((n_clusters, X.shape[1], y.shape[1]))
    np.add.at(scores, codes, X[:, :, None] * u[:, None, :])  # per cluster: X_g' u_g
    meat = np.einsum("gkb,glb->bkl", scores, scores)
    cov = XtX_inv[None] @ meat @ XtX_inv[None]
    sub = cov[:, cols][:, :, cols]
    b = beta[cols].T  # (B, q)
    # pinv: with few runs (or a draw with no variation) the clustered covariance can be singular
    return np.einsum("bq,bqr,br->b", b, np.linalg.pinv(sub), b)


def _wild_cluster_p(X, z, fitted_null, codes, cols, reps: int = 999, seed: int = 0) -> float:
    """p-value of the joint Wald test by the restricted wild cluster bootstrap (Cameron, Gelbach & Miller
    2008; Webb's six-point weights): right-sized with a dozen or two runs, where the t/F reference of a
    cluster-robust statistic rejects too often."""
    n_clusters = int(codes.max()) + 1
    XtX_inv = np.linalg.pinv(X.T @ X)
    observed = _cluster_wald(X, XtX_inv, z[:, None], codes, n_clusters, cols)[0]
    weights = np.random.default_rng(seed).choice(WEBB, size=(n_clusters, reps))
    y = fitted_null[:, None] + (z - fitted_null)[:, None] * weights[codes]
    boot = _cluster_wald(X, XtX_inv, y, codes, n_clusters, cols)
    return float((1 + np.sum(boot >= observed)) / (reps + 1))


def collapse_test(loss, value, params, tokens, random_baseline=None, metric: str = "acc", task: str = "task",
                  spline_df: int = 4, runs=None, higher=None, margin: float = DEFAULT_MARGIN) -> FitResults:
    """Do size N and a run's budget D explain performance beyond loss? Spline in loss, inference by run.

    Checkpoints of one run are correlated and share the run's N and D, so N and D are only learnt from
    differences between runs: standard errors are clustered by run (t with runs - 1 degrees of
    freedom), and D is the run's budget, constant within the run, so it cannot stand in for the
    learning-rate schedule along a run. Without runs every row is its own run (heteroskedasticity-robust).

    The p-value answers "does size matter at all?", which a large ladder answers yes for effects too small to
    change a decision. The equivalence verdict answers "does it matter enough?": the N effect times the ladder's
    log-size span (what size adds across the fitted sizes at equal loss), its 90% interval (two one-sided tests at
    5%, Schuirmann 1987) against +-margin (metric units: 0.01 is one point of a [0, 1] score). Inside: "collapses
    within M"; wholly beyond: "size matters"; else "undecided".
    """
    import pandas as pd
    import statsmodels.formula.api as smf

    loss = require_finite(loss, f"task {task}: loss")
    params = require_finite(params, f"task {task}: params")
    tokens = require_finite(tokens, f"task {task}: tokens")
    runs = np.arange(len(loss)) if runs is None else np.asarray(runs)
    if len(np.unique(params)) < 2:
        raise AnalysisError(f"task {task}: a single model size; the collapse test needs at least 2 sizes")
    if len(loss) < spline_df + 5:
        raise AnalysisError(f"task {task}: {len(loss)} checkpoints; the collapse test needs at least {spline_df + 5}")
    z = normalise(value, random_baseline or [0.0] * len(loss), metric, higher)
    codes = np.unique(runs, return_inverse=True)[1]
    frame = pd.DataFrame({"z": z, "L": loss, "logN": np.log(params), "logD": np.log(_run_budgets(tokens, runs))})
    terms = ["logN"] + (["logD"] if np.ptp(frame.logD) > 0 and np.linalg.matrix_rank(
        np.column_stack([np.ones(len(z)), frame.logN, frame.logD])) == 3 else [])
    n_clusters = len(np.unique(codes))
    if n_clusters < len(terms) + 3:
        raise AnalysisError(f"task {task}: {n_clusters} runs; the collapse test needs at least {len(terms) + 3}")
    spline = f"cr(L, df={spline_df}, constraints='center')"  # centred: not collinear with the intercept
    restricted = smf.ols(f"z ~ {spline}", frame).fit()
    full = smf.ols(f"z ~ {spline} + " + " + ".join(terms), frame).fit(
        cov_type="cluster", cov_kwds={"groups": codes}, use_t=True)
    wald = full.f_test(", ".join(f"{t} = 0" for t in terms))
    f_value = float(np.squeeze(wald.fvalue))
    X = np.asarray(full.model.exog)
    test_cols = [list(full.params.index).index(t) for t in terms]
    p_value = _wild_cluster_p(X, np.asarray(z), np.asarray(restricted.fittedvalues), codes, test_cols)
    partial_r2 = (restricted.ssr - full.ssr) / restricted.ssr if restricted.ssr > 0 else 0.0
    equivalence = _equivalence(full, float(np.log(np.max(params) / np.min(params))), margin)
    ci = full.conf_int(0.05)
    params_out = {t: float(full.params[t]) for t in terms}
    intervals = {t: (float(ci.loc[t, 0]), float(ci.loc[t, 1])) for t in terms}
    return FitResults(
        law="collapse_test", formula=f"z ~ spline(L, df={spline_df}) + " + " + ".join(terms) + "  vs  z ~ spline(L); "
                                     "SEs clustered by run (wild cluster bootstrap p), D = the run's budget",
        params=params_out, intervals=intervals,
        data={"task": task, "metric": metric, "n_checkpoints": len(loss), "n_runs": n_clusters,
              "model_sizes": int(len(np.unique(params)))},
        gof={"f_statistic": f_value, "p_value": p_value, "df_diff": len(terms), "df_resid_clusters": n_clusters - 1,
             "partial_r2": float(partial_r2), "r2_loss_only": float(restricted.rsquared), "r2_with_size": float(full.rsquared)},
        extra={"collapses_onto_loss": bool(p_value > 0.05),
               "N_effect_per_efold": params_out["logN"], "N_effect_per_efold_interval": list(intervals["logN"]),
               "units": f"{metric} above random per e-fold of N (x100 for points of a [0, 1] score)",
               **equivalence},
    )


def _equivalence(full, span: float, margin: float) -> dict:
    """What size adds across the fitted sizes (N effect x log-size span), its 90% interval (TOST at 5%), and the
    verdict against +-margin."""
    if not (margin > 0 and math.isfinite(margin)):
        raise AnalysisError(f"--margin {margin:g}: give a positive number of points, e.g. --margin 1")
    low, high = (float(v) * span for v in full.conf_int(0.10).loc["logN"])
    effect = float(full.params["logN"]) * span
    if -margin < low and high < margin:
        verdict = f"collapses within {100 * margin:g}"
    elif low > margin or high < -margin:
        verdict = "size matters"
    else:
        verdict = "undecided"
    return {"size_effect_over_span": effect, "size_effect_over_span_interval_90": [low, high], "log_size_span": span,
            "margin": margin, "equivalence": verdict}
