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
says so) rather than preferring the model that merely has more parameters; with 7 or more, BIC
decides, and the plain law stays unless another model beats it by more than 2. AICc is reported too.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.optimize import least_squares
from scipy.special import logsumexp

from analysis.results import AnalysisError, FitResults, gaussian_loglik
from analysis.task_law import f_of, group_by_model, mean_pu_table, record_pu


def _mean_pu(lookups: list[dict[str, float]], pick) -> np.ndarray:
    """Each model's mean PU over the picked instances (a bootstrap resample; repeats count)."""
    out = []
    for lookup in lookups:
        values = np.array([lookup[i] for i in pick if i in lookup])
        out.append(values.mean() if values.size else np.nan)
    return np.array(out)


MIN_SIZES_FOR_MECHANISMS = 7  # two lines = 4 parameters + the error variance, and some to spare


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
            res = least_squares(lambda t: model(t) - f, start)
            if best is None or res.cost < best.cost:
                best = res
    return best.x, float(2 * best.cost)


class EmergenceModel:
    def __init__(self, records: list[dict], task: str = "task", n_boot: int = 1000, seed: int = 0):
        self.task, self.n_boot, self.seed = task, n_boot, seed
        self.by_model = group_by_model(records, task)
        if len(self.by_model) < 4:
            raise AnalysisError(f"task {task}: {len(self.by_model)} model sizes; the curvature test needs at least 4")
        self.instance_ids = sorted({r["instance_id"] for r in records})

    def fit(self) -> FitResults:
        sizes, means, _ = mean_pu_table(self.by_model, self.task)
        x, f = np.log(sizes), f_of(means)
        xc = x - x.mean()  # centred: q is the same, the fit better conditioned
        quad = np.polyfit(xc, f, 2)
        rng = np.random.default_rng(self.seed)
        qs = []
        ids = np.array(self.instance_ids)
        lookups = [{r["instance_id"]: record_pu(r) for r in recs} for recs in self.by_model.values()]
        for _ in range(self.n_boot):
            pick = ids[rng.integers(0, len(ids), len(ids))]
            pu = _mean_pu(lookups, pick)
            if np.all((pu > 0) & (pu < 1)):
                qs.append(np.polyfit(xc, f_of(pu), 2)[0])
        if len(qs) < self.n_boot // 2:
            raise AnalysisError(f"task {self.task}: too many bootstrap resamples have a model at PU 0; more samples needed")
        q_low, q_high = np.quantile(qs, [0.025, 0.975])
        shape = "convex" if q_low > 0 else "concave" if q_high < 0 else "linear"
        n = len(x)
        rss_line = float(np.sum((np.polyval(np.polyfit(x, f, 1), x) - f) ** 2))
        steps, rss_steps = _fit_two_lines(x, f, +1.0)
        circuits, rss_circuits = _fit_two_lines(x, f, -1.0)
        ic = {"task_law (line)": _gaussian_ic(rss_line, n, 2), "multi-step (log-sum-exp)": _gaussian_ic(rss_steps, n, 4),
              "multiple circuits (soft-min)": _gaussian_ic(rss_circuits, n, 4)}
        # BIC, judged only with enough sizes; the plain law stays unless beaten by more than 2.
        comparable = n >= MIN_SIZES_FOR_MECHANISMS
        best = min(ic, key=lambda k: ic[k][1])
        preferred = best if comparable and ic[best][1] < ic["task_law (line)"][1] - 2 else "task_law (line)"
        return FitResults(
            law="emergence", formula="F(N) = log(-log PU) = a + b x + q x^2, x = log N (centred)",
            params={"q": float(quad[0]), "b": float(quad[1]), "a": float(quad[2])},
            intervals={"q": (float(q_low), float(q_high))},
            data={"task": self.task, "n_models": n, "n_instances": len(self.instance_ids),
                  "F": {f"{s:.6g}": float(v) for s, v in zip(sizes, f)}},
            gof={"bootstrap_refits": len(qs)},
            extra={"shape": shape, "meaning": {"convex": "slower than the task law", "linear": "the task law",
                                              "concave": "accelerated emergence"}[shape],
                   "mechanism_comparison": {k: {"aicc": v[0], "bic": v[1]} for k, v in ic.items()},
                   "preferred_by_bic": preferred, "mechanisms_comparable": comparable},
        )
