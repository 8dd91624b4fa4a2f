"""The extrapolation error's growth, pooled over the tasks of one ladder (empirical Bayes).

Each task's growth var(d) = a + b d^2 (curve_family.extrapolation_growth) is learnt from a handful of
extrapolation fits (one per size with two sizes below it: two on a ladder of four sizes), and the
residuals of one fit share its error, so b is known to a chi-square with about that many degrees of
freedom: a task that happened to extrapolate well twice gets b near 0 and an interval that ignores
how far it is extrapolated. Worse, a task flat at chance has tiny residuals at every fitted distance
and no way to see that tasks like it start to rise further on (MMLU on Gadre et al.'s ladder).

All tasks of a ladder share the loss axis, so b (in units of the score above random per unit of loss
squared) is comparable across tasks whose score is a proportion: higher-is-better metrics bounded by 1
(accuracy, exact match, pass rates). Lower-is-better metrics (NLL, bits per byte, Brier) have scales
of their own and keep their own b. The pooled estimate treats each task's b
as b_t * W_t with W_t ~ chi2(nu_t) / nu_t (nu_t its number of extrapolation fits) and b_t drawn from
an inverse-gamma prior across tasks, whose mean and weight nu_0 come from the tasks' own estimates by
moments. Each task's b becomes its posterior mean (nu_0 mean + nu_t b_t) / (nu_0 + nu_t): tasks whose
own evidence is weak move toward the ladder's typical growth. No constant is chosen: nu_0 is infinite
(complete pooling) when the spread of the b estimates is no more than their sampling noise, and small
when tasks really differ.
"""
from __future__ import annotations

import math

import numpy as np

MIN_TASKS = 3  # fewer tasks cannot say how much the ladder's tasks differ


def pooled_prior(estimates, dofs) -> tuple[float, float] | None:
    """(mean, prior weight nu_0) of the tasks' growth b by moments, or None with fewer than MIN_TASKS.
    E[b_hat] = mean; E[b_hat^2] = E[b^2] (1 + 2 / nu); an inverse gamma with that mean and variance has
    nu_0 = 2 + 2 mean^2 / var(b)."""
    b = np.asarray(estimates, float)
    if len(b) < MIN_TASKS:
        return None
    nu = float(np.mean(dofs))
    mean = float(b.mean())
    between = float(np.mean(b ** 2)) / (1 + 2 / nu) - mean ** 2
    weight = math.inf if between <= 0 else 2 + 2 * mean ** 2 / between
    return mean, weight


def shrink(b: float, dof: float, mean: float, weight: float) -> float:
    """A task's posterior mean of b given its own estimate (with `dof` fits) and the pooled prior."""
    return mean if math.isinf(weight) else (weight * mean + dof * b) / (weight + dof)


def _growths(curve):
    yield curve.scatter_growth
    for other in (curve.mixture or {}).values():
        yield other.get("scatter_growth")


def poolable(curve) -> bool:
    """A score on the proportion scale: higher is better and bounded by 1 (see the module's note)."""
    return bool(curve.higher_is_better) and curve.ceiling is not None


def pool_growth(curves: dict) -> dict | None:
    """Shrink the growth b of every proportion-scale curve (LossCurveResults, updated in place) toward
    the ladder's pooled prior, from the chosen curves' estimates. Each growth keeps its own estimate as
    `b_task` and gains `pooled`. Returns the prior ({tasks, mean_b, prior_weight}) or None."""
    chosen = [c.scatter_growth for c in curves.values()
              if poolable(c) and c.scatter_growth and c.scatter_growth.get("n_fits")]
    prior = pooled_prior([g.get("b_task", g["b"]) for g in chosen], [g["n_fits"] for g in chosen])
    if prior is None:
        return None
    mean, weight = prior
    summary = {"tasks": len(chosen), "mean_b": mean, "prior_weight": None if math.isinf(weight) else weight}
    for curve in curves.values():
        if not poolable(curve):
            continue
        for growth in _growths(curve):
            if growth and growth.get("n_fits"):
                own = growth.setdefault("b_task", growth["b"])  # pooling twice starts from the task's own b again
                growth["b"] = shrink(own, growth["n_fits"], mean, weight)
                growth["pooled"] = summary
    return summary
