"""Emergence: the mechanism named for tasks that follow the plain law (false positives), and the results contract."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from analysis.emergence import EmergenceModel, EmergenceResults
from tests.synthetic import passuntil_records

SIZES = list(np.geomspace(3e7, 3e9, 9))


def plain_law_task(rng, n=40):
    """Every instance follows PU = exp(-c_i N^-alpha_i); instances differ in difficulty and a little in exponent."""
    def make(shift, alpha):
        return lambda N: math.exp(-math.exp(0.9 + shift - alpha * (math.log(N) - math.log(3e8))))
    return [make(s, a) for s, a in zip(rng.normal(0, 0.3, n), rng.normal(0.6, 0.05, n))]


@pytest.mark.slow  # ~5-15 s a task on a busy 2-core machine (the two-line fits and the parametric bootstrap)
def test_mechanism_false_positive_rate_is_held():
    """BIC alone named a multi-step or multi-circuit mechanism for 30% of plain-law tasks (24 of 80 measured);
    the rule (curvature beyond what straight instances give, in the mechanism's direction, then BIC) keeps
    it near its 5% level."""
    rng = np.random.default_rng(22)
    named, named_by_bic_alone, n_sims = 0, 0, 12
    for s in range(n_sims):
        recs = passuntil_records(plain_law_task(rng), SIZES, cap=2_000_000, seed=s, intervals=False)
        fit = EmergenceModel(recs, n_boot=200, seed=s).fit()
        named += fit.preferred != "task_law (line)"
        bic = {k: v["bic"] for k, v in fit.mechanism_comparison.items()}
        named_by_bic_alone += min(bic.values()) < bic["task_law (line)"] - 2
    print(f"mechanism named for {named}/{n_sims} plain-law tasks; BIC alone: {named_by_bic_alone}/{n_sims}")
    assert named <= 1 and named_by_bic_alone >= 2, (named, named_by_bic_alone)


def test_emergence_results_round_trip():
    rng = np.random.default_rng(3)
    fit = EmergenceModel(passuntil_records(plain_law_task(rng), SIZES[::2], cap=2_000_000, seed=1, intervals=False),
                         task="t", n_boot=200).fit()
    d = json.loads(json.dumps(fit.to_dict()))
    back = EmergenceResults.from_dict(d)
    assert back == fit and back.to_dict() == d and d["kind"] == "emergence" and d["shape"] == fit.shape
    lo, hi = fit.conf_int(0.1)["q"]
    assert fit.conf_int(0.05)["q"][0] <= lo <= fit.q <= hi <= fit.conf_int(0.05)["q"][1]
    p = fit.predict(SIZES[2], 0.1)
    assert p.low[0] <= p.estimate[0] <= p.high[0] and "not for extrapolation" in p.interval
    text = fit.summary()
    assert "bootstrap interval (instances)" in text and "not compared" in text
