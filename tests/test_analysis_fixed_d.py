"""L(N) at a fixed budget (--fixed-d): pooling runs of different budgets is checked, and the size
threshold N* carries the uncertainty of eta (its coverage measured)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from analysis.loss_law import LossVsSizeModel, eta_draws_from_interval
from analysis.results import AnalysisError, LossLawResults

SIZES = np.array([1e6, 3e6, 1e7, 3e7, 1e8, 3e8])


def chinchilla(N, D):
    return 1.8 + 400 / N ** 0.34 + 2000 / D ** 0.3


def test_pooling_very_different_budgets_is_refused_with_counts():
    N = np.repeat(SIZES, 3)
    D = np.tile([1e9, 1e10, 1e11], len(SIZES))
    with pytest.raises(AnalysisError, match=r"pools 3 token budgets .*18 runs.*--where 'tokens == X'"):
        LossVsSizeModel(N, chinchilla(N, D), n_boot=10, tokens=D).fit()


def test_budgets_that_barely_differ_are_pooled_with_a_flag():
    rng = np.random.default_rng(2)
    N = np.repeat(SIZES, 2)
    D = 1e10 * (1 + rng.uniform(-0.02, 0.02, len(N)))  # 2% apart: lost in the noise
    L = chinchilla(N, D) * np.exp(rng.normal(0, 0.01, len(N)))
    fit = LossLawResults.from_fit(LossVsSizeModel(N, L, n_boot=10, tokens=D).fit())
    assert [f["code"] for f in fit.flags] == ["pooled_budgets"] and "12 runs" in fit.flags[0]["message"]
    assert fit.extra["budget_check"]["p_value"] >= 0.05
    one = LossVsSizeModel(N, L, n_boot=10, tokens=np.full(len(N), 1e10)).fit()  # one budget: nothing to check
    assert one.extra["flags"] == [] and "budget_check" not in one.extra


def test_size_threshold_interval_carries_eta_uncertainty():
    """The law is known almost exactly; eta is estimated with sd 0.03. Over 400 estimates of eta (each
    with its 95% interval), N*'s 95% interval covers the true N* about 95% of the time with eta's draws,
    and rarely without them."""
    L = 2.0 + (5e6 / SIZES) ** 0.3
    fit = LossVsSizeModel(SIZES, L * np.exp(np.random.default_rng(3).normal(0, 1e-4, len(L))), n_boot=40).fit()
    eta_true, sd = 2.5, 0.03
    truth = 5e6 * (eta_true - 2.0) ** (-1 / 0.3)
    rng = np.random.default_rng(4)
    q = stats.norm.ppf(0.975)
    with_eta, without = [], []
    for i in range(400):
        eta = eta_true + rng.normal(0, sd)
        _, low, high = fit.size_threshold(eta, eta_draws_from_interval(eta, eta - q * sd, eta + q * sd, 2000, seed=i))
        with_eta.append(low <= truth <= high)
        _, low, high = fit.size_threshold(eta)
        without.append(low <= truth <= high)
    print(f"N* 95% interval covers: {np.mean(with_eta):.1%} with eta's draws, {np.mean(without):.1%} without")
    assert 0.91 <= np.mean(with_eta) <= 0.99 and np.mean(without) < 0.5
    assert math.isinf(fit.size_threshold(1.0, np.full(100, 1.0))[0])
