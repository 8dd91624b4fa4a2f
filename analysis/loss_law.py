"""Loss scaling laws.

- L(N, D) = E + A / N^alpha + B / D^beta (Hoffmann et al. 2022, approach 3). Fitted as they do, and
  as Besiroglu et al. 2024 re-did it: in log space, log L ~ LSE(a - alpha log N, b - beta log D, e)
  with A = e^a, B = e^b, E = e^e, a Huber loss (delta = 1e-3) and L-BFGS from the best points of a
  grid of starts. Intervals: bootstrap over runs (or rows when no run column is given), refitting
  from the full-data optimum; Besiroglu et al. found the original intervals far too narrow, so we
  report percentile intervals from the refits rather than asymptotic ones.
- Exponents are bounded to [0.001, 2.5] (EXPONENT_BOUNDS).
- L(N) = L_inf + (N0 / N)^alpha at a fixed data budget (Du et al. 2024, Eq. 4), and the size at which
  the loss reaches a threshold eta: N* = N0 (eta - L_inf)^(-1/alpha) (Eq. 5).
"""
from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp
from threadpoolctl import threadpool_limits

from analysis.loss_law_forms import loss_law, loss_vs_size
from analysis.results import AnalysisError, FitResults, bound_flags, require_finite

HUBER_DELTA = 1e-3
# Exponents are kept in [0.001, 2.5], beyond anything reported for language models: with few sizes an
# unbounded fit can send one term to alpha ~ 20 with A ~ 1e120, i.e. drop it while claiming tiny error.
EXPONENT_BOUNDS = (1e-3, 2.5)


def _huber(r, delta):
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta)), np.clip(r, -delta, delta)


class _LogSpaceFit:
    """Huber regression of log L on a log-sum-exp of linear terms in (log N, log D).

    The Huber loss with delta = 1e-3 makes the objective and its gradient tiny; it is divided by delta
    so that L-BFGS's tolerances mean something, which does not move the minimum.
    """

    def __init__(self, terms, log_loss, delta, batch_terms=None):
        self.terms, self.y, self.delta = terms, log_loss, delta  # terms: theta -> stacked exponents and gradients
        self.batch_terms = batch_terms  # starts (G, p) -> exponents (G, k, n), for evaluating a grid at once

    def objective(self, theta):
        stacked, grads = self.terms(theta)
        pred = logsumexp(stacked, axis=0)
        loss, dr = _huber(pred - self.y, self.delta)
        weights = np.exp(stacked - pred)  # softmax over terms
        grad = np.array([np.sum(dr * (weights * g).sum(axis=0)) for g in grads])
        return float(loss.sum()) / self.delta, grad / self.delta

    def grid_values(self, starts):
        """The objective at many starts at once (no gradients)."""
        stacked = self.batch_terms(starts) if self.batch_terms else np.stack([self.terms(s)[0] for s in starts])
        pred = logsumexp(stacked, axis=1)
        return _huber(pred - self.y[None, :], self.delta)[0].sum(axis=1)

    def minimise(self, starts, keep: int = 8, bounds=None):
        values = self.grid_values(starts) if len(starts) > 1 else np.zeros(1)
        best = None
        for idx in np.argsort(values)[:keep]:
            res = minimize(self.objective, starts[idx], jac=True, method="L-BFGS-B", bounds=bounds,
                           options={"maxiter": 5000, "ftol": 1e-14, "gtol": 1e-9})
            if best is None or res.fun < best.fun:
                best = res
        return best


def _chinchilla_terms(logN, logD):
    def terms(theta):
        a, b, e, alpha, beta = theta
        stacked = np.vstack([a - alpha * logN, b - beta * logD, np.full_like(logN, e)])
        zero = np.zeros_like(logN)
        one = np.ones_like(logN)
        # d stacked / d theta, per parameter: rows are the three terms
        grads = [np.vstack([one, zero, zero]), np.vstack([zero, one, zero]), np.vstack([zero, zero, one]),
                 np.vstack([-logN, zero, zero]), np.vstack([zero, -logD, zero])]
        return stacked, grads

    return terms


def _chinchilla_batch(logN, logD):
    def batch(starts):
        a, b, e, alpha, beta = (starts[:, i, None] for i in range(5))
        return np.stack([a - alpha * logN, b - beta * logD, np.broadcast_to(e, (len(starts), len(logN)))], axis=1)

    return batch


def _size_terms(logN):
    def terms(theta):
        e, log_n0, alpha = theta  # L = e^e + (N0/N)^alpha = e^e + exp(alpha (log N0 - log N))
        stacked = np.vstack([np.full_like(logN, e), alpha * (log_n0 - logN)])
        zero, one = np.zeros_like(logN), np.ones_like(logN)
        grads = [np.vstack([one, zero]), np.vstack([zero, np.full_like(logN, alpha)]), np.vstack([zero, log_n0 - logN])]
        return stacked, grads

    return terms


def _percentile_intervals(names, draws: np.ndarray) -> dict[str, tuple[float, float]]:
    """95% percentile interval of each parameter (a column of the bootstrap draws); NaN without draws."""
    if draws.ndim != 2 or not len(draws):
        return {n: (math.nan, math.nan) for n in names}
    return {n: (float(np.quantile(draws[:, i], 0.025)), float(np.quantile(draws[:, i], 0.975))) for i, n in enumerate(names)}


def _band(point_value, samples: np.ndarray):
    """(estimate, 2.5% and 97.5% quantiles over the draws) of a prediction."""
    if not len(samples):
        return point_value, np.full_like(point_value, np.nan), np.full_like(point_value, np.nan)
    return point_value, np.quantile(samples, 0.025, axis=0), np.quantile(samples, 0.975, axis=0)


def _bootstrap_indices(groups, n_boot, rng):
    labels = np.unique(groups)
    members = [np.flatnonzero(groups == g) for g in labels]
    for _ in range(n_boot):
        picked = rng.integers(0, len(labels), len(labels))
        yield np.concatenate([members[i] for i in picked])


class LossLawModel:
    """L(N, D) = E + A/N^alpha + B/D^beta."""

    names = ("E", "A", "alpha", "B", "beta")

    def __init__(self, params, tokens, loss, runs=None, delta: float = HUBER_DELTA, n_boot: int = 200, seed: int = 0):
        self.N = require_finite(params, "params column")
        self.D = require_finite(tokens, "tokens column")
        self.L = require_finite(loss, "loss column")
        if len(self.L) < 6:
            raise AnalysisError(f"the loss law L(N, D) has 5 parameters and needs at least 6 points, got {len(self.L)}")
        if len(np.unique(self.N)) < 2:
            raise AnalysisError("a single model size: L(N, D) needs at least 2 sizes")
        if len(np.unique(self.D)) < 2:
            raise AnalysisError("a single token budget: fit L(N) at fixed D instead (emergent fit loss-law --fixed-d)")
        if (self.N <= 0).any() or (self.D <= 0).any() or (self.L <= 0).any():
            raise AnalysisError("params, tokens and loss must all be positive")
        self.runs = np.asarray(runs) if runs is not None else np.arange(len(self.L))
        self.delta, self.n_boot, self.seed = delta, n_boot, seed

    @staticmethod
    def grid():
        exponents = [0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1.2]
        return np.array(list(itertools.product(np.arange(0, 26, 2.5), np.arange(0, 26, 2.5), np.arange(-1, 1.6, 0.5),
                                               exponents, exponents)), dtype=float)

    def _fit_rows(self, idx, starts, keep):
        logN, logD = np.log(self.N[idx]), np.log(self.D[idx])
        fit = _LogSpaceFit(_chinchilla_terms(logN, logD), np.log(self.L[idx]), self.delta, _chinchilla_batch(logN, logD))
        bounds = [(None, None), (None, None), (None, None), EXPONENT_BOUNDS, EXPONENT_BOUNDS]
        return fit.minimise(np.clip(starts, [-np.inf] * 3 + [EXPONENT_BOUNDS[0]] * 2, [np.inf] * 3 + [EXPONENT_BOUNDS[1]] * 2),
                            keep, bounds).x

    @staticmethod
    def _natural(theta):
        a, b, e, alpha, beta = theta
        return np.array([math.exp(e), math.exp(a), alpha, math.exp(b), beta])

    def fit(self) -> FitResults:
        idx = np.arange(len(self.L))
        theta = self._fit_rows(idx, self.grid(), keep=8)
        rng = np.random.default_rng(self.seed)
        with threadpool_limits(1):  # hundreds of small refits: BLAS threads only contend (2 busy cores)
            draws = np.array([self._natural(self._fit_rows(b, theta[None, :], keep=1))
                              for b in _bootstrap_indices(self.runs, self.n_boot, rng)]).reshape(-1, 5)
        point = self._natural(theta)
        intervals = _percentile_intervals(self.names, draws)
        pred = self.evaluate(point, self.N, self.D)
        resid = np.log(self.L) - np.log(pred)
        results = FitResults(
            law="loss_law", formula="L(N, D) = E + A / N^alpha + B / D^beta",
            params=dict(zip(self.names, map(float, point))), intervals=intervals,
            data={"n_points": len(self.L), "n_runs": int(len(np.unique(self.runs))), "n_sizes": int(len(np.unique(self.N))),
                  "N_min": float(self.N.min()), "N_max": float(self.N.max()), "D_min": float(self.D.min()),
                  "D_max": float(self.D.max()), "loss_min": float(self.L.min()), "loss_max": float(self.L.max())},
            gof={"rmse_log_loss": float(np.sqrt(np.mean(resid ** 2))), "max_abs_log_error": float(np.abs(resid).max()),
                 "huber_delta": self.delta, "bootstrap_refits": self.n_boot},
        )
        results.extra["log_residuals"] = resid.tolist()
        results.draws = draws
        results.extra["bootstrap_draws"] = draws.tolist()
        results.extra["flags"] = bound_flags(self.names, point, draws, {"alpha": EXPONENT_BOUNDS, "beta": EXPONENT_BOUNDS})
        results.extra["flags"] += vanishing_floor_flags(point[0], draws[:, 0], float(self.L.min()))
        results.predictor = lambda N, D: self._predict(point, draws, N, D)
        return results

    evaluate = staticmethod(loss_law)

    def _predict(self, point, draws, N, D):
        N, D = np.atleast_1d(np.asarray(N, float)), np.atleast_1d(np.asarray(D, float))
        return _band(self.evaluate(point, N, D), np.array([self.evaluate(d, N, D) for d in draws]))


def budget_check(tokens, log_residuals, level: float = 0.05) -> dict:
    """--fixed-d pools runs of several token budgets into L(N): does the budget matter? OLS of the law's
    log residuals on log D (a run trained longer has lower loss at the same N, so pooled budgets leave a
    trend). Raises when the trend is significant at `level`; else returns a note with the counts."""
    from scipy import stats

    D, r = np.asarray(tokens, float), np.asarray(log_residuals, float)
    budgets = np.unique(D)
    fit = stats.linregress(np.log(D), r)
    what = (f"--fixed-d pools {len(budgets)} token budgets ({budgets.min():.3g} to {budgets.max():.3g} tokens, "
            f"{len(D)} runs)")
    if fit.pvalue < level:
        raise AnalysisError(f"{what} and the loss trends with the budget beyond N (slope {fit.slope:.3g} in log loss "
                            f"per e-fold of D, p = {fit.pvalue:.2g}): keep one budget (--where 'tokens == X') or fit "
                            "L(N, D) without --fixed-d")
    return {"budgets": len(budgets), "runs": int(len(D)), "slope_log_loss_per_efold_D": float(fit.slope),
            "p_value": float(fit.pvalue),
            "message": f"{what}; no trend of the residuals with D (p = {fit.pvalue:.2g}), pooled"}


def eta_draws_from_interval(eta: float, low: float, high: float, n: int, level: float = 0.95, seed: int = 0):
    """Draws of eta from its estimate and a (level) interval: a normal on each side, with the sd that
    puts that side's bound at the interval's quantile (asymmetric intervals stay asymmetric)."""
    from scipy import stats

    q = stats.norm.ppf(0.5 + level / 2)
    u = np.random.default_rng(seed + 104729).standard_normal(n)
    return eta + np.where(u < 0, (eta - low) / q, (high - eta) / q) * u


class LossVsSizeModel:
    """L(N) = L_inf + (N0 / N)^alpha at one data budget, and the size threshold N*(eta)."""

    names = ("L_inf", "N0", "alpha")

    def __init__(self, params, loss, delta: float = HUBER_DELTA, n_boot: int = 200, seed: int = 0, tokens=None):
        self.N = require_finite(params, "params column")
        self.L = require_finite(loss, "loss column")
        self.D = None if tokens is None else require_finite(tokens, "tokens column")
        if len(np.unique(self.N)) < 3:
            raise AnalysisError(f"L(N) has 3 parameters and needs at least 3 model sizes, got {len(np.unique(self.N))}")
        self.delta, self.n_boot, self.seed = delta, n_boot, seed

    def _fit_rows(self, idx, starts, keep):
        fit = _LogSpaceFit(_size_terms(np.log(self.N[idx])), np.log(self.L[idx]), self.delta)
        return fit.minimise(starts, keep, [(None, None), (None, None), EXPONENT_BOUNDS]).x

    def fit(self) -> FitResults:
        logN = np.log(self.N)
        starts = np.array(list(itertools.product(np.linspace(-1, math.log(self.L.min()), 6),
                                                 np.linspace(logN.min() - 10, logN.max() + 10, 9),
                                                 [0.05, 0.1, 0.2, 0.35, 0.5, 0.8, 1.2])))
        theta = self._fit_rows(np.arange(len(self.L)), starts, keep=8)
        rng = np.random.default_rng(self.seed)
        with threadpool_limits(1):
            boots = [self._fit_rows(b, theta[None, :], 1) for b in
                     (rng.integers(0, len(self.L), len(self.L)) for _ in range(self.n_boot))]
        natural = lambda t: np.array([math.exp(t[0]), math.exp(t[1]), t[2]])  # noqa: E731
        point, draws = natural(theta), np.array([natural(t) for t in boots]).reshape(-1, 3)
        intervals = _percentile_intervals(self.names, draws)
        resid = np.log(self.L) - np.log(self.evaluate(point, self.N))
        results = FitResults(
            law="loss_vs_size", formula="L(N) = L_inf + (N0 / N)^alpha",
            params=dict(zip(self.names, map(float, point))), intervals=intervals,
            data={"n_points": len(self.L), "N_min": float(self.N.min()), "N_max": float(self.N.max())},
            gof={"rmse_log_loss": float(np.sqrt(np.mean(resid ** 2)))},
        )
        results.extra["log_residuals"] = resid.tolist()
        results.draws = draws
        results.extra["bootstrap_draws"] = draws.tolist()
        results.extra["flags"] = bound_flags(self.names, point, draws, {"alpha": EXPONENT_BOUNDS})
        if self.D is not None and len(np.unique(self.D)) > 1:
            check = budget_check(self.D, results.extra["log_residuals"])
            results.extra["budget_check"] = check
            results.extra["flags"].append({"code": "pooled_budgets", "message": check["message"]})
        results.predictor = lambda N: self._predict(point, draws, N)
        results.size_threshold = lambda eta, eta_draws=None: self.size_threshold(point, draws, eta, eta_draws)
        return results

    evaluate = staticmethod(loss_vs_size)

    def _predict(self, point, draws, N):
        return _band(self.evaluate(point, N), np.array([self.evaluate(d, N) for d in draws]))

    @staticmethod
    def size_threshold(point, draws, eta: float, eta_draws=None):
        """N* = N0 (eta - L_inf)^(-1/alpha): the size whose loss reaches eta (inf if eta <= L_inf).

        eta_draws: draws of an uncertain eta (e.g. from a loss curve's threshold interval), paired with
        the law's bootstrap draws, so N*'s interval carries both uncertainties."""
        def n_star(p, e=eta):
            L_inf, N0, alpha = p
            return math.inf if e <= L_inf else N0 * (e - L_inf) ** (-1.0 / alpha)

        if eta_draws is not None and len(draws):
            etas = np.asarray(eta_draws, float)
            values = np.array([n_star(draws[i % len(draws)], e) for i, e in enumerate(etas)])
        else:
            values = np.array([n_star(d) for d in draws])
        if not len(values):
            return n_star(point), math.nan, math.nan
        # Draws that never reach eta are inf; interpolating between two of them would give NaN (inf - inf).
        low, high = np.quantile(values, [0.025, 0.975], method="inverted_cdf")
        return n_star(point), float(low), float(high)


def vanishing_floor_flags(E: float, E_draws, loss_min: float, share: float = 1e-4) -> list[dict]:
    """E is fitted as log E, so it has no bound to hit; E at a vanishing fraction of the smallest loss is its
    natural bound 0: the irreducible loss went into the N and D terms and its interval means nothing."""
    tiny = share * loss_min
    flags: list[dict[str, Any]] = []
    if E < tiny:
        flags.append({"code": "at_bound", "message": f"E = {E:.4g} sits at its natural bound 0 (below {share:g} of the "
                      "smallest loss): the fit moved the irreducible loss into the N and D terms; more sizes or budgets "
                      "are needed to pin E down"})
    hits = np.asarray(E_draws, float) < tiny
    if len(hits) and hits.any():
        flags.append({"code": "bootstrap_at_bound", "share": float(hits.mean()), "parameter": "E",
                      "message": f"E sits at its natural bound 0 in {int(hits.sum())} of {len(hits)} bootstrap refits "
                                 f"({hits.mean():.0%}); its interval is cut there"})
    return flags
