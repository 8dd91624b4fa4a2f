"""Estimators against known truth: a simulated model whose samples pass with probability p."""
from __future__ import annotations

import math

import numpy as np
import pytest

from passuntil.backends.simulated import SimulatedBackend
from passuntil.estimators import estimate_instance, estimate_task
from passuntil.records import read_records
from passuntil.scheduler import Settings, run
from passuntil.tasks import Instance, Task


def simulate(tmp_path, p: float, n: int, r: int, cap: int, seed: int = 0) -> list[dict]:
    """n replications = n instances with the same p, sampled by the real scheduler."""
    instances = [Instance(f"rep{i}", "prompt", "exact", answers=["PASS"]) for i in range(n)]
    backend = SimulatedBackend({inst.id: p for inst in instances})
    out = tmp_path / f"p{p}_r{r}_cap{cap}.jsonl"
    run(Task("sim", instances, ["\n"], 8), backend, Settings(r=r, max_samples=cap, batch_size=256, chunk_size=32, seed=seed),
        out, model_name="sim", progress=False, log=lambda *_: None)
    return read_records(out)


@pytest.mark.parametrize("p", [0.3, 0.05, 0.01])
def test_unbiased_estimator_mean_within_three_standard_errors(tmp_path, p):
    records = simulate(tmp_path, p, n=600, r=2, cap=100_000)
    values = np.array([rec["pu_unbiased"] for rec in records])
    assert not any(rec["censored"] for rec in records)
    se = values.std(ddof=1) / math.sqrt(len(values))
    assert abs(values.mean() - p) < 3 * se, (values.mean(), p, se)
    # The MLE r/K is biased upwards for inverse sampling; the unbiased one is not.
    assert np.mean([rec["pu_mle"] for rec in records]) > values.mean()


@pytest.mark.parametrize("p,r", [(0.05, 2), (0.2, 1), (0.01, 3)])
def test_exact_interval_covers_at_nominal_rate(tmp_path, p, r):
    records = simulate(tmp_path, p, n=500, r=r, cap=100_000, seed=3)
    covered = np.mean([rec["ci_low"] <= p <= rec["ci_high"] for rec in records])
    # Exact intervals are conservative: at least 95% up to Monte Carlo noise (sd ~1% at n = 500).
    assert 0.93 <= covered <= 0.995, covered


def test_censoring_keeps_instances_and_gives_upper_bounds(tmp_path):
    p, cap = 0.002, 1000  # P(fewer than 2 passes in 1000) ~ 0.41: many instances censored
    records = simulate(tmp_path, p, n=800, r=2, cap=cap, seed=5)
    censored = [rec for rec in records if rec["censored"]]
    assert 0.3 < len(censored) / len(records) < 0.5
    assert all(rec["samples"] == cap and rec["passes"] < 2 for rec in censored)
    zero = [rec for rec in censored if rec["passes"] == 0]
    assert zero and all(rec["ci_high"] == pytest.approx(1 - 0.025 ** (1 / cap), rel=1e-6) for rec in zero)
    # The estimator for the capped rule ((r-1)/(K-1), or x/n when censored) stays unbiased.
    values = np.array([rec["pu_unbiased"] for rec in records])
    assert abs(values.mean() - p) < 3 * values.std(ddof=1) / math.sqrt(len(values))
    task = estimate_task(records)
    assert task.instances == 800 and task.censored == len(censored)
    assert task.ci_low < p < task.ci_high


def test_instance_estimates_by_hand():
    est = estimate_instance(samples=10, passes=2, r=2, max_samples=100)
    assert est.pu_mle == 0.2 and est.pu_unbiased == pytest.approx(1 / 9) and not est.censored
    assert est.ci_low < 1 / 9 < est.ci_high
    first_try = estimate_instance(samples=2, passes=2, r=2, max_samples=100)
    assert first_try.ci_high == 1.0 and first_try.pu_unbiased == 1.0
    assert estimate_instance(samples=5, passes=1, r=1, max_samples=10).pu_unbiased is None
    with pytest.raises(ValueError, match="cap"):
        estimate_instance(samples=50, passes=0, r=2, max_samples=100)
