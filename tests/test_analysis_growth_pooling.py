"""Pooling the extrapolation error's growth over a ladder's tasks (analysis/growth_pooling.py): the
moment estimates behave as an empirical Bayes prior should, and on a real ladder (Gadre et al. 2024, all
47 tasks, targets 3.5x and 17x beyond the fitted sizes, at their actual loss and size) pooling brings the
90% intervals' coverage near nominal where each task's own growth fell short."""
from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from analysis.growth_pooling import pooled_prior, shrink

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "gadre2024" / "exp_data"


def test_pooling_shrinks_noisy_estimates_toward_the_ladder_and_keeps_real_differences():
    rng = np.random.default_rng(0)
    nu = 2
    # One true growth for all 60 tasks, each estimated from two fits: the spread is noise alone.
    same = 0.01 * rng.chisquare(nu, 60) / nu
    mean, weight = pooled_prior(same, [nu] * 60)
    assert weight > 20, weight  # (infinite when the spread is at most the noise)
    pooled = np.array([shrink(b, nu, mean, weight) for b in same])
    assert np.mean(np.abs(pooled - 0.01)) < 0.5 * np.mean(np.abs(same - 0.01))
    # True growths 1000-fold apart, each estimated from 50 fits: each task keeps most of its own.
    truth = 10 ** rng.uniform(-5, -2, 60)
    precise = truth * rng.chisquare(50, 60) / 50
    mean, weight = pooled_prior(precise, [50] * 60)
    assert weight < 5, weight
    pooled = np.array([shrink(b, 50, mean, weight) for b in precise])
    assert np.mean(np.abs(pooled - truth)) < 1.5 * np.mean(np.abs(precise - truth))
    assert pooled_prior([0.01, 0.02], [2, 2]) is None  # two tasks cannot say how tasks differ
    assert math.isinf(pooled_prior([0.01] * 5, [2] * 5)[1])


@pytest.mark.slow
@pytest.mark.usefixtures("gadre_data")
def test_pooled_growth_covers_the_real_ladder_targets():
    """Per corpus, every task's curve fitted on the runs below 1B (n_boot 20), then the nine 1.4B and
    6.9B runs predicted at their actual loss and size: 423 (task, run) pairs."""
    import copy

    from analysis.convert import gadre2024_rows
    from analysis.growth_pooling import pool_growth
    from analysis.loss_curve import fit_performance_curve

    by = defaultdict(list)
    for r in gadre2024_rows(DATA):
        by[(r["dataset"], r["task"])].append(r)
    own, pooled_fits, targets = defaultdict(dict), defaultdict(dict), {}
    for (corpus, task), rows in sorted(by.items()):
        train = [r for r in rows if float(r["params"]) < 1e9]
        fit = fit_performance_curve([float(r["loss"]) for r in train], [float(r["value"]) for r in train],
                                    [float(r["random_baseline"]) for r in train], [float(r["params"]) for r in train],
                                    [r["run"] for r in train], task=task, n_boot=20, classify=False)
        own[corpus][task], pooled_fits[corpus][task] = fit, copy.deepcopy(fit)
        targets[(corpus, task)] = [r for r in rows if float(r["params"]) > 1e9]
    for corpus in pooled_fits:
        prior = pool_growth(pooled_fits[corpus])
        assert prior and prior["tasks"] == 47, prior
    hits = defaultdict(list)
    for (corpus, task), rows in targets.items():
        for r in rows:
            size = "1.4B" if float(r["params"]) < 3e9 else "6.9B"
            for name, fits in (("own", own), ("pooled", pooled_fits)):
                p = fits[corpus][task].predict(float(r["loss"]), alpha=0.1, n_draws=2000, params=float(r["params"]))
                hits[(name, size)].append(p["low"] <= float(r["value"]) <= p["high"])
    coverage = {k: float(np.mean(v)) for k, v in hits.items()}
    print({f"{k[0]} {k[1]}": f"{v:.1%}" for k, v in sorted(coverage.items())})
    assert len(hits[("pooled", "1.4B")]) == 6 * 47 and len(hits[("pooled", "6.9B")]) == 3 * 47
    for size in ("1.4B", "6.9B"):
        assert coverage[("pooled", size)] >= 0.84, coverage
        assert coverage[("pooled", size)] >= coverage[("own", size)] + 0.03, coverage


def test_only_proportion_scores_are_pooled():
    """Four accuracy tasks and one NLL task fitted on one ladder: the accuracies share a prior, the NLL
    (another scale) keeps its own growth; every pooled growth records its own b and the prior."""
    from analysis.growth_pooling import pool_growth
    from analysis.loss_curve import fit_performance_curve

    rng = np.random.default_rng(1)
    sizes = [1e7, 3e7, 1e8, 3e8, 1e9]
    loss = np.array([1.9 + 30.0 * N ** -0.2 * f ** -0.15 for N in sizes for _ in range(2) for f in (0.3, 0.6, 1.0)])
    params = np.repeat(sizes, 6)
    runs = [f"{N:g}-{k}" for N in sizes for k in range(2) for _ in range(3)]
    curves = {}
    for j, slope in enumerate((0.1, 0.2, 0.3, 0.4)):
        value = np.clip(0.25 + slope * (3.6 - loss) + rng.normal(0, 0.02, len(loss)), 0, 1)
        curves[f"t{j}|acc"] = fit_performance_curve(loss, value, [0.25] * len(loss), params, runs, task=f"t{j}",
                                                    n_boot=0, classify=False)
    nll = 0.5 + 0.8 * loss + rng.normal(0, 0.05, len(loss))
    curves["t|nll"] = fit_performance_curve(loss, nll, None, params, runs, metric="nll", task="t", n_boot=0,
                                            classify=False)
    assert all(c.scatter_growth for c in curves.values())
    nll_b = curves["t|nll"].scatter_growth["b"]
    prior = pool_growth(curves)
    assert prior["tasks"] == 4
    assert "pooled" not in curves["t|nll"].scatter_growth and curves["t|nll"].scatter_growth["b"] == nll_b
    for key in ("t0|acc", "t1|acc", "t2|acc", "t3|acc"):
        g = curves[key].scatter_growth
        assert g["pooled"] == prior and "b_task" in g
        low, high = sorted((g["b_task"], prior["mean_b"]))
        assert low - 1e-15 <= g["b"] <= high + 1e-15  # between its own estimate and the ladder's mean
    assert pool_growth(curves) == prior  # pooling again changes nothing: it starts from each task's own b
