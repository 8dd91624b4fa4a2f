"""Per-instance maximum likelihood for the task law, vectorised over instances.

Each instance i at model size j: passes x_ij in n_ij samples, PU_ij = exp(-exp(a_i - b_i t_j)), t = log N - t0.
Under PassUntil's inverse sampling (with or without the cap) the likelihood of PU is the binomial kernel
PU^x (1 - PU)^(n - x), so these are exact likelihoods for every r, r = 1 included.

Fisher scoring in eta = a - b t: score = u (f / expm1(u) - x), information = n u^2 / expm1(u), u = exp(eta),
f = n - x failures. All instances are solved at once (numpy), so bootstrap-free predictions stay fast.
"""
from __future__ import annotations

import numpy as np

MAX_ITER = 60


def _pieces(eta, passes, samples):
    u = np.exp(np.clip(eta, -30.0, 30.0))
    with np.errstate(over="ignore"):  # expm1 of a huge u is inf: that row's terms are then 0, as they should be
        em1 = np.expm1(u)
    score = u * ((samples - passes) / em1 - passes)
    info = samples * u * u / em1
    return score, info


def loglik(eta, passes, samples) -> np.ndarray:
    """Per-instance log-likelihood (rows summed over sizes); eta has the shape of passes."""
    u = np.exp(np.clip(eta, -30.0, 30.0))
    fails = samples - passes
    log1m = np.log(-np.expm1(-u))
    return np.sum(np.where(passes > 0, -passes * u, 0.0) + np.where(fails > 0, fails * log1m, 0.0), axis=-1)


def start_values(t, passes, samples):
    """Least squares of log(-log PU) on t through the sizes that passed (rates clipped into (0, 1))."""
    rate = np.clip((passes + 0.5) / (samples + 1.0), 1e-12, 1 - 1e-9)
    f = np.log(-np.log(rate))
    w = (passes > 0).astype(float) + 1e-3
    tw = np.sum(w * t, -1) / np.sum(w, -1)
    fw = np.sum(w * f, -1) / np.sum(w, -1)
    sxx = np.sum(w * (t - tw[:, None]) ** 2, -1)
    b = -np.sum(w * (t - tw[:, None]) * (f - fw[:, None]), -1) / np.maximum(sxx, 1e-12)
    return np.column_stack([fw + b * tw, b])


def fit_two(t, passes, samples):
    """(theta (n, 2) = (a, b), cov (n, 2, 2), converged (n,)) for each row; rows are instances."""
    theta = start_values(t, passes, samples)
    ll = loglik(theta[:, :1] - theta[:, 1:] * t, passes, samples)
    converged = np.zeros(len(theta), bool)
    for _ in range(MAX_ITER):
        eta = theta[:, :1] - theta[:, 1:] * t
        score, info = _pieces(eta, passes, samples)
        grad = np.column_stack([score.sum(-1), -(score * t).sum(-1)])
        h = np.stack([np.stack([info.sum(-1), -(info * t).sum(-1)], -1),
                      np.stack([-(info * t).sum(-1), (info * t * t).sum(-1)], -1)], -2)
        step = np.linalg.solve(h + 1e-12 * np.eye(2), grad[..., None])[..., 0]
        scale = np.ones(len(theta))
        for _half in range(30):  # step halving keeps every instance's likelihood from falling
            trial = theta + scale[:, None] * step
            ll_trial = loglik(trial[:, :1] - trial[:, 1:] * t, passes, samples)
            bad = ~(ll_trial >= ll - 1e-10)
            if not bad.any():
                break
            scale = np.where(bad, scale / 2, scale)
        theta, ll = np.where(bad[:, None], theta, trial), np.where(bad, ll, ll_trial)
        converged = np.abs(scale[:, None] * step).max(-1) < 1e-8
        if converged.all():
            break
    eta = theta[:, :1] - theta[:, 1:] * t
    _, info = _pieces(eta, passes, samples)
    h = np.stack([np.stack([info.sum(-1), -(info * t).sum(-1)], -1),
                  np.stack([-(info * t).sum(-1), (info * t * t).sum(-1)], -1)], -2)
    cov = np.linalg.pinv(h)
    return theta, cov, converged & np.all(np.isfinite(theta), -1)


def fit_intercept(t, passes, samples, slope):
    """(a (n,), var_a (n,), centre (n,)): the intercept with each row's slope held at `slope` (n,); centre is the
    information-weighted mean t of the instance's data (where its line is pinned by its own passes)."""
    if len(t) == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    rate = np.clip((passes.sum(-1) + 0.5) / (samples.sum(-1) + 1.0), 1e-12, 1 - 1e-9)
    tbar = np.sum(samples * t, -1) / np.maximum(samples.sum(-1), 1)
    slope = np.broadcast_to(np.asarray(slope, float), (len(t),))[:, None]
    a = np.log(-np.log(rate)) + slope[:, 0] * tbar
    for _ in range(MAX_ITER):
        score, info = _pieces(a[:, None] - slope * t, passes, samples)
        step = score.sum(-1) / np.maximum(info.sum(-1), 1e-300)
        step = np.clip(step, -2.0, 2.0)
        a = a + step
        if np.abs(step).max() < 1e-9:
            break
    _, info = _pieces(a[:, None] - slope * t, passes, samples)
    total = np.maximum(info.sum(-1), 1e-300)
    return a, 1.0 / total, np.sum(info * t, -1) / total


def zero_pass_bound(t, samples, slope, level: float):
    """The smallest intercept a for which 0 passes in all sizes still has probability >= (1 - level)/2:
    exposure sum_j n_j * (-log(1 - PU_j(a))) = -log((1 - level)/2). Larger a means a harder instance."""
    target = -np.log((1 - level) / 2)
    lo, hi = np.full(len(t), -30.0), np.full(len(t), 60.0)
    for _ in range(200):
        mid = (lo + hi) / 2
        pu = np.exp(-np.exp(np.clip(mid[:, None] - slope * t, -30, 30)))
        exposure = np.sum(samples * -np.log1p(-np.minimum(pu, 1 - 1e-16)), -1)
        too_easy = exposure > target
        lo, hi = np.where(too_easy, mid, lo), np.where(too_easy, hi, mid)
    return hi


def shrink_slopes(b, var_b):
    """Empirical Bayes for the exponents (random effects, DerSimonian-Laird): (mean slope, its variance, tau^2 (the
    spread of true slopes over instances), shrunk slopes, each one's own variance, its loading on the mean's error).
    Noisy per-instance slopes extrapolated 10x bias the mean PU (the curve is convex); shrinking them to the mean
    by their noise removes most of that."""
    w = 1.0 / var_b
    mean_w = np.sum(w * b) / w.sum()
    q = np.sum(w * (b - mean_w) ** 2)
    denom = w.sum() - np.sum(w * w) / w.sum()
    tau2 = max(0.0, (q - (len(b) - 1)) / denom) if denom > 0 else 0.0
    w_re = 1.0 / (var_b + tau2)
    mean = float(np.sum(w_re * b) / w_re.sum())
    keep = tau2 / (tau2 + var_b)
    # The mean's error is shared by every instance (a common draw); only keep * var_b is each instance's own.
    return mean, float(1.0 / w_re.sum()), tau2, mean + keep * (b - mean), keep * var_b, 1 - keep
