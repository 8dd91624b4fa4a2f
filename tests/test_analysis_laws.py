"""Loss law, task law and emergence shape: recovery of known truth, interval coverage, bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.emergence import EmergenceModel
from analysis.loss_law import LossLawModel, LossVsSizeModel
from analysis.results import AnalysisError
from analysis.task_law import InstanceTaskLawModel, TaskLawModel
from tests.synthetic import passuntil_records, task_law

TRUTH = {"E": 1.7, "A": 400.0, "alpha": 0.34, "B": 410.0, "beta": 0.28}
NS = np.repeat([1e6, 3e6, 1e7, 3e7, 1e8], 4)
DS = np.tile([2e8, 6e8, 2e9, 6e9], 5)


def chinchilla(N, D):
    return TRUTH["E"] + TRUTH["A"] / N ** TRUTH["alpha"] + TRUTH["B"] / D ** TRUTH["beta"]


def test_loss_law_recovers_parameters_and_predicts():
    rng = np.random.default_rng(1)
    L = chinchilla(NS, DS) * np.exp(rng.normal(0, 0.005, NS.size))
    fit = LossLawModel(NS, DS, L, n_boot=100).fit()
    for name, value in TRUTH.items():
        low, high = fit.conf_int()[name]
        assert low <= value <= high, (name, low, value, high)
    est, low, high = fit.predict(3e8, 1e10)
    assert low[0] <= chinchilla(3e8, 1e10) <= high[0] and abs(est[0] / chinchilla(3e8, 1e10) - 1) < 0.01


def test_loss_law_interval_coverage():
    rng = np.random.default_rng(2)
    hits = {"E": [], "alpha": [], "beta": []}
    for _ in range(10):
        L = chinchilla(NS, DS) * np.exp(rng.normal(0, 0.01, NS.size))
        fit = LossLawModel(NS, DS, L, n_boot=40, seed=int(rng.integers(1 << 30))).fit()
        for name in hits:
            low, high = fit.conf_int()[name]
            hits[name].append(low <= TRUTH[name] <= high)
    for name, h in hits.items():
        assert np.mean(h) >= 0.7, (name, np.mean(h))  # 95% nominal; 10 simulations keep CI fast


def test_loss_vs_size_and_size_threshold():
    rng = np.random.default_rng(3)
    N = np.array([1e6, 3e6, 1e7, 3e7, 1e8, 3e8])
    L = (2.0 + (5e6 / N) ** 0.3) * np.exp(rng.normal(0, 0.003, N.size))
    fit = LossVsSizeModel(N, L, n_boot=100).fit()
    assert fit.conf_int()["alpha"][0] <= 0.3 <= fit.conf_int()["alpha"][1]
    n_star, low, high = fit.size_threshold(2.5)
    truth = 5e6 * 0.5 ** (-1 / 0.3)
    assert low <= truth <= high
    assert fit.size_threshold(1.0) == (math.inf, math.inf, math.inf)  # below the irreducible loss: never reached


def test_loss_law_bad_input():
    with pytest.raises(AnalysisError, match="at least 6"):
        LossLawModel([1e6] * 3, [1e9] * 3, [3.0] * 3).fit()
    with pytest.raises(AnalysisError, match="single model size"):
        LossLawModel([1e6] * 8, DS[:8], [3.0] * 8).fit()
    with pytest.raises(AnalysisError, match="single token budget"):
        LossLawModel(NS[:8], [1e9] * 8, [3.0] * 8).fit()
    with pytest.raises(AnalysisError, match="NaN"):
        LossLawModel(NS, DS, [float("inf")] * NS.size).fit()


SIZES = [3e7, 1e8, 3e8, 1e9]


def instances(rng, alpha=0.6, n=40):
    return [task_law(math.exp(a), alpha) for a in rng.normal(math.log(3e5), 0.5, n)]


def test_task_law_recovers_and_predicts_the_larger_model():
    rng = np.random.default_rng(0)
    insts = instances(rng)
    fit = TaskLawModel(passuntil_records(insts, SIZES, seed=1)).fit()
    est, low, high = (v[0] for v in fit.predict(2.4e9))
    truth = np.mean([f(2.4e9) for f in insts])
    assert low <= truth <= high and abs(est - truth) < 0.05
    ipu = InstanceTaskLawModel(passuntil_records(insts, SIZES, seed=1)).fit()
    est, low, high = (v[0] for v in ipu.predict(2.4e9))
    assert low <= truth <= high
    assert ipu.data["n_fitted"] + ipu.data["n_carried"] == 40


def test_task_law_parameters_cover_truth_for_homogeneous_instances():
    c, alpha = 3e5, 0.6
    hits_c, hits_a = [], []
    for k in range(30):
        recs = passuntil_records([task_law(c, alpha)] * 30, SIZES + [2e9], seed=100 + k)
        fit = TaskLawModel(recs).fit()
        hits_a.append(fit.conf_int()["alpha"][0] <= alpha <= fit.conf_int()["alpha"][1])
        hits_c.append(fit.conf_int()["c"][0] <= c <= fit.conf_int()["c"][1])
    assert np.mean(hits_a) >= 0.8 and np.mean(hits_c) >= 0.8, (np.mean(hits_a), np.mean(hits_c))


def test_censored_instances_stay_in_and_the_rule_is_counted():
    rng = np.random.default_rng(3)
    hard = [task_law(math.exp(a), 0.6) for a in rng.normal(math.log(3e6), 0.3, 10)]  # PU ~ 1e-4..1e-3 at small N
    recs = passuntil_records(instances(rng, n=20) + hard, SIZES, cap=2000, seed=4)
    assert any(r["censored"] for r in recs)
    fit = TaskLawModel(recs).fit()
    assert fit.data["n_censored"] > 0 and fit.data["n_instances"] == 30
    ipu = InstanceTaskLawModel(recs).fit()
    assert ipu.data["n_carried"] > 0 and "largest model" in ipu.data["rule"]


def test_task_law_bad_input():
    rng = np.random.default_rng(5)
    recs = passuntil_records(instances(rng, n=5), SIZES, seed=1)
    with pytest.raises(AnalysisError, match="at least 2"):
        TaskLawModel([r for r in recs if r["params"] == SIZES[0]]).fit()
    zero = [{**r, "passes": 0, "pu_mle": 0.0, "pu_unbiased": 0.0, "censored": True} if r["params"] == SIZES[0] else r for r in recs]
    with pytest.raises(AnalysisError, match="PassUntil 0"):
        TaskLawModel(zero, method="wls").fit()  # the mean-PU method needs a positive mean at every size
    assert TaskLawModel(zero).fit().data["n_instances"] == 5  # the instance likelihood takes zero passes as data
    with pytest.raises(AnalysisError, match="--params"):
        TaskLawModel([{**recs[0], "params": None}] + recs[1:]).fit()


def _shaped(rng, q, f0=0.9, n=40):
    """Instances with F = f0 - 0.6 x - q x^2 (x = log N - log 3e8): q = 0 the law, q > 0 accelerated."""
    def make(shift):
        def pu(N):
            x = math.log(N) - math.log(3e8)
            return math.exp(-math.exp(f0 + shift - 0.6 * x - q * x * x))
        return pu
    return [make(s) for s in rng.normal(0, 0.3, n)]


@pytest.mark.parametrize("q,f0,shape", [(0.0, 0.9, "linear"), (0.25, 0.9, "concave"), (-0.2, 0.0, "convex")])
def test_curvature_classification(q, f0, shape):
    rng = np.random.default_rng(11)
    sizes = [3e7, 1e8, 3e8, 1e9, 3e9]
    fit = EmergenceModel(passuntil_records(_shaped(rng, q, f0), sizes, cap=2_000_000, seed=12), n_boot=300).fit()
    assert fit.extra["shape"] == shape, (fit.params, fit.intervals)


def _mechanism(rng, sign, lines, n=40):
    """F = sign * logsumexp(sign * lines): sign +1 multi-step (convex), -1 multiple circuits (concave)."""
    def make(shift):
        def pu(N):
            x = math.log(N) - math.log(3e8)
            values = np.array([a - b * x for a, b in lines]) + shift
            return math.exp(-math.exp(sign * np.logaddexp.reduce(sign * values)))
        return pu
    return [make(s) for s in rng.normal(0, 0.2, n)]


def test_mechanisms_compared_only_with_enough_sizes():
    rng = np.random.default_rng(13)
    few = EmergenceModel(passuntil_records(_shaped(rng, 0.0), [3e7, 1e8, 3e8, 1e9, 3e9], seed=1), n_boot=100).fit()
    assert few.extra["preferred_by_bic"] == "task_law (line)" and not few.extra["mechanisms_comparable"]
    sizes = list(np.geomspace(3e7, 3e9, 9))
    circuits = EmergenceModel(passuntil_records(_mechanism(rng, -1.0, [(1.5, 0.2), (0.3, 1.6)]), sizes, cap=2_000_000,
                                                seed=2), n_boot=100).fit()
    assert circuits.extra["mechanisms_comparable"] and circuits.extra["shape"] == "concave"
    assert circuits.extra["preferred_by_bic"] == "multiple circuits (soft-min)", circuits.extra["mechanism_comparison"]
    steps = EmergenceModel(passuntil_records(_mechanism(rng, 1.0, [(0.2, 0.2), (-0.6, 1.4)]), sizes, cap=2_000_000,
                                             seed=3), n_boot=100).fit()
    assert steps.extra["shape"] == "convex"
    assert steps.extra["preferred_by_bic"] == "multi-step (log-sum-exp)", steps.extra["mechanism_comparison"]
