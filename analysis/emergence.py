"""The shape of emergence (Hu et al. 2024): F(N) = log(-log PU(N)) against x = log N.

The task law makes F linear in x. Curvature test: F = a + b x + q x^2 by least squares; q's 95%
interval comes from a bootstrap over instances (resample instances, recompute every model's mean PU,
refit). q > 0 (convex): PU grows more slowly than the law; q < 0 (concave): accelerated emergence;
an interval around 0: the law holds.

Two mechanisms are compared by information criterion (Gaussian errors on F):
- multi-step: PU = product of K step pass rates, each following the law, so
  F = log sum_k exp(a_k - b_k x): a log-sum-exp of lines (convex);
- multiple circuits: several circuits, any of which solves the task, so
  F = -log sum_k exp(-(a_k - b_k x)): a soft minimum of lines (concave).
Each two-line model has 4 parameters: with fewer than 7 model sizes the comparison is not made (it
says so) rather than preferring the model that merely has more parameters. With 7 or more, a mechanism
is named only when (1) the curvature q beats what instances that each follow the plain law produce
(parametric bootstrap from the instance-level fit, one-sided 2.5% in the mechanism's direction: convex for
multi-step, concave for multiple circuits) and (2) BIC prefers it by more than 2. BIC alone named a
mechanism for 30% of plain-law tasks (24 of 80; residuals of F are neither independent nor of equal
variance), and the instance-bootstrap curvature interval for 14% (11 of 80: a mixture of straight
instances of different difficulty is itself curved); tests/test_task_law_emergence.py measures the rule.
AICc is reported too.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares
from scipy.special import logsumexp

from analysis.results import AnalysisError, gaussian_loglik
from analysis.task_law import f_of, group_by_model, mean_pu_table, provenance, record_pu
from analysis.task_law_results import PUPrediction, _Contract, _fmt, pu_of


def _instance_matrix(by_model: dict, ids: list[str]) -> np.ndarray:
    """Instances x sizes of unbiased PU (NaN where an instance has no record at that size)."""
    row = {k: i for i, k in enumerate(ids)}
    out = np.full((len(ids), len(by_model)), np.nan)
    for j, recs in enumerate(by_model.values()):
        for r in recs:
            out[row[str(r["instance_id"])], j] = record_pu(r)
    return out


def bootstrap_curvature(values: np.ndarray, xc: np.ndarray, n_boot: int, rng) -> np.ndarray:
    """(q, b, a) of F = a + b x + q x^2 refitted on instance resamples, one row each (resamples with a size
    at PU 0 or 1 dropped)."""
    picks = rng.integers(0, len(values), size=(n_boot, len(values)))
    with np.errstate(invalid="ignore", divide="ignore"):
        pu = np.nanmean(values[picks], axis=1)  # (n_boot, sizes)
        ok = np.all((pu > 0) & (pu < 1), axis=1)
        f = f_of(pu[ok])
    if not ok.any():
        return np.zeros((0, 3))
    return np.polyfit(xc, f.T, 2).T


MIN_SIZES_FOR_MECHANISMS = 7  # two lines = 4 parameters + the error variance, and some to spare
NULL_SIMULATIONS = 200


def null_curvature(records: list[dict], task: str, sizes: np.ndarray, xc: np.ndarray, n_sim: int, rng) -> np.ndarray:
    """q of the mean-PU curve when every instance follows its own plain law (parametric bootstrap): the instance
    laws fitted by maximum likelihood, PassUntil re-run on them (same r and cap), the curvature refitted.
    Mixing instances of different difficulty curves the mean even when each instance is straight, so this,
    not q = 0, is what a mechanism has to beat."""
    from analysis.task_law import InstanceTaskLawModel

    fit = InstanceTaskLawModel(records, task=task).fit()
    t = np.log(sizes) - fit.t0
    pu = np.exp(-np.exp(np.array(fit.a)[:, None] - np.array(fit.b)[:, None] * t))  # never-passed instances: ~0
    r, cap = fit.r, int(max(int(rec.get("max_samples") or 0) for rec in records)) or 10 ** 9
    gaps = rng.geometric(np.clip(pu, 1e-15, 1)[None, :, :, None], size=(n_sim, *pu.shape, r))
    arrivals = np.cumsum(np.minimum(gaps, cap + 1), axis=-1)
    done = arrivals[..., -1] <= cap
    passes = np.where(done, r, (arrivals <= cap).sum(-1))
    samples = np.where(done, arrivals[..., -1], cap)
    if r == 1:
        est = np.where(done, (samples == 1).astype(float), 0.0)
    else:
        est = np.where(done, (r - 1) / np.maximum(samples - 1, 1), passes / samples)
    mean = est.sum(1) / (len(pu) + len(fit.zero_ids))  # instances that never passed add 0
    ok = np.all((mean > 0) & (mean < 1), axis=1)
    return np.polyfit(xc, f_of(mean[ok]).T, 2)[0] if ok.any() else np.zeros(0)


def _gaussian_ic(rss: float, n: int, k: int) -> tuple[float, float]:
    """(AICc, BIC) with k mean parameters plus the error variance (AICc infinite when n <= k + 2)."""
    m = k + 1
    ll = gaussian_loglik(rss, n)
    aicc = 2 * m - 2 * ll + (2 * m * (m + 1) / (n - m - 1) if n - m - 1 > 0 else math.inf)
    return aicc, m * math.log(n) - 2 * ll


def _fit_two_lines(x, f, sign: float):
    """sign=+1: log-sum-exp of two lines (multi-step); sign=-1: soft minimum (multiple circuits)."""
    def model(theta):
        a1, b1, a2, b2 = theta
        lines = np.vstack([a1 - b1 * x, a2 - b2 * x])
        return sign * logsumexp(sign * lines, axis=0)

    slope = -np.polyfit(x, f, 1)[0]
    best = None
    for shift in (-2.0, -1.0, 0.0, 1.0):
        for ratio in (0.3, 0.6, 1.5, 3.0):
            start = [f.mean() + slope * x.mean() + shift, slope, f.mean() + slope * ratio * x.mean() - shift, slope * ratio]
            res = least_squares(lambda t: model(t) - f, start, max_nfev=100)  # degenerate starts crawl for thousands
            if best is None or res.cost < best.cost:
                best = res
    if best is None:  # the start grid above is never empty
        raise AnalysisError("two-line fit: no start values were tried")
    return best.x, float(2 * best.cost)


class EmergenceModel:
    def __init__(self, records: list[dict], task: str = "task", n_boot: int = 1000, seed: int = 0):
        self.task, self.n_boot, self.seed, self.records = task, n_boot, seed, records
        self.by_model = group_by_model(records, task)
        if len(self.by_model) < 4:
            raise AnalysisError(f"task {task}: {len(self.by_model)} model sizes; the curvature test needs at least 4")
        self.instance_ids = sorted({str(r["instance_id"]) for r in records})

    def fit(self) -> EmergenceResults:
        sizes, means, _ = mean_pu_table(self.by_model, self.task)
        x, f = np.log(sizes), f_of(means)
        xc = x - x.mean()  # centred: q is the same, the fit better conditioned
        quad = np.polyfit(xc, f, 2)
        rng = np.random.default_rng(self.seed)
        draws = bootstrap_curvature(_instance_matrix(self.by_model, self.instance_ids), xc, self.n_boot, rng)
        if len(draws) < self.n_boot // 2:
            raise AnalysisError(f"task {self.task}: too many bootstrap resamples have a model at PU 0; more samples needed")
        q_low, q_high = np.quantile(draws[:, 0], [0.025, 0.975])
        shape = "convex" if q_low > 0 else "concave" if q_high < 0 else "linear"
        n = len(x)
        rss_line = float(np.sum((np.polyval(np.polyfit(x, f, 1), x) - f) ** 2))
        _, rss_steps = _fit_two_lines(x, f, +1.0)
        _, rss_circuits = _fit_two_lines(x, f, -1.0)
        ic = {"task_law (line)": _gaussian_ic(rss_line, n, 2), "multi-step (log-sum-exp)": _gaussian_ic(rss_steps, n, 4),
              "multiple circuits (soft-min)": _gaussian_ic(rss_circuits, n, 4)}
        # Only with enough sizes, only where the curvature beats what straight instances produce (parametric
        # bootstrap, 2.5% each side), and only if BIC agrees by > 2.
        comparable = n >= MIN_SIZES_FOR_MECHANISMS
        null_p = {}
        if comparable:
            q_null = null_curvature(self.records, self.task, sizes, xc, NULL_SIMULATIONS, rng)
            null_p = {"convex": float((1 + np.sum(q_null >= quad[0])) / (1 + len(q_null))),
                      "concave": float((1 + np.sum(q_null <= quad[0])) / (1 + len(q_null)))}
        candidate = {"convex": "multi-step (log-sum-exp)", "concave": "multiple circuits (soft-min)"}
        beaten = [k for k, p in null_p.items() if p < 0.025 and ic[candidate[k]][1] < ic["task_law (line)"][1] - 2]
        preferred = candidate[beaten[0]] if beaten else "task_law (line)"
        return EmergenceResults(
            task=self.task, q=float(quad[0]), b=float(quad[1]), a=float(quad[2]), x_mean=float(x.mean()),
            draws=draws.tolist(), shape=shape,
            mechanism_comparison={k: {"aicc": v[0] if math.isfinite(v[0]) else None, "bic": v[1]}  # None: undefined
                                  for k, v in ic.items()},
            preferred=preferred, mechanisms_comparable=comparable, n_instances=len(self.instance_ids),
            F={f"{s:.6g}": float(v) for s, v in zip(sizes, f)}, null_p=null_p, provenance=provenance())


MEANING = {"convex": "slower than the task law", "linear": "the task law", "concave": "accelerated emergence"}


@dataclass
class EmergenceResults(_Contract):
    """Curvature of F = log(-log mean PU) in x = log N - x_mean, with bootstrap draws over instances."""
    kind = "emergence"
    task: str
    q: float
    b: float
    a: float
    x_mean: float
    draws: list                 # (q, b, a) per instance resample
    shape: str                  # convex | linear | concave (95% bootstrap interval of q)
    mechanism_comparison: dict
    preferred: str              # the mechanism named (see the module docstring for the rule)
    mechanisms_comparable: bool
    n_instances: int
    F: dict                     # "N" -> F of the mean PU
    null_p: dict = field(default_factory=dict)  # one-sided p of q against straight instances (parametric bootstrap)
    formula: str = "F(N) = log(-log PU) = a + b x + q x^2, x = log N (centred)"
    provenance: dict = field(default_factory=dict)

    @property
    def params(self) -> dict:
        return {"q": self.q, "b": self.b, "a": self.a}

    @property
    def intervals(self) -> dict:
        return self.conf_int(0.05)

    @property
    def extra(self) -> dict:
        return {"shape": self.shape, "meaning": MEANING[self.shape], "mechanism_comparison": self.mechanism_comparison,
                "preferred_by_bic": self.preferred, "mechanisms_comparable": self.mechanisms_comparable}

    @property
    def data(self) -> dict:
        return {"task": self.task, "n_models": len(self.F), "n_instances": self.n_instances, "F": self.F}

    @property
    def gof(self) -> dict:
        return {"bootstrap_refits": len(self.draws)}

    def conf_int(self, alpha: float = 0.05) -> dict:
        """Percentile intervals over instance resamples."""
        d = np.asarray(self.draws)
        return {k: tuple(float(v) for v in np.quantile(d[:, i], [alpha / 2, 1 - alpha / 2])) for i, k in enumerate("qba")}

    def predict(self, N, alpha: float = 0.05) -> PUPrediction:
        """The quadratic's mean PU at N with the bootstrap-over-instances interval: a description of the
        measured sizes' curve (inside their range), not a forecast; forecast with the task law."""
        N = np.atleast_1d(np.asarray(N, float))
        x = np.log(N) - self.x_mean
        d = np.asarray(self.draws)
        f_draws = d[:, :1] * x ** 2 + d[:, 1:2] * x + d[:, 2:3]
        low, high = np.quantile(pu_of(f_draws), [alpha / 2, 1 - alpha / 2], axis=0)
        return PUPrediction(pu_of(self.a + self.b * x + self.q * x ** 2), low, high, "emergence quadratic",
                            "describes the curvature; use the task law to forecast", 1 - alpha,
                            "interval of the mean-PU curve over instance resamples (not for extrapolation)")

    def _views(self) -> dict:
        return {**super()._views(), "meaning": MEANING[self.shape], "preferred_by_bic": self.preferred}

    def summary(self, alpha: float = 0.05) -> str:
        cis = self.conf_int(alpha)
        lines = [f"emergence: {self.formula}", "-" * 64,
                 f"{'parameter':<10} {'estimate':>12}  {f'{1 - alpha:.0%} bootstrap interval (instances)':>34}"]
        lines += [f"{k:<10} {_fmt(v):>12}  [{_fmt(cis[k][0]):>12}, {_fmt(cis[k][1]):>12}]" for k, v in self.params.items()]
        lines += ["-" * 64, f"task: {self.task}", f"model sizes: {len(self.F)}; instances: {self.n_instances}; "
                  f"bootstrap refits: {len(self.draws)}", f"shape: {self.shape} ({MEANING[self.shape]})",
                  f"mechanism: {self.preferred}" + ("" if self.mechanisms_comparable else
                                                   f" (not compared: fewer than {MIN_SIZES_FOR_MECHANISMS} sizes)")]
        return "\n".join(lines)
