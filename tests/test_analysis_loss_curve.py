"""Performance vs loss: threshold recovery, classification, robustness, the collapse test."""
from __future__ import annotations

import numpy as np
import pytest

from analysis.loss_curve import LossCurveModel, collapse_test
from analysis.results import AnalysisError


def emergent_task(rng, eta=2.2, n=80, noise=0.02, slope=0.8, jump=0.0, lo=1.8, hi=3.2):
    loss = np.sort(rng.uniform(lo, hi, n))
    acc = 0.25 + np.where(loss < eta, jump + slope * (eta - loss), 0.0) + rng.normal(0, noise, n)
    return loss, acc


def test_threshold_recovered_with_interval(tmp_path):
    rng = np.random.default_rng(0)
    loss, acc = emergent_task(rng)
    fit = LossCurveModel(loss, acc, [0.25] * len(loss), "acc", "mmlu").fit()
    assert fit.extra["classification"] == "emergent" and fit.gof["model"] in ("hinge", "hinge_power")
    low, high = fit.conf_int()["eta"]
    assert low <= 2.2 <= high and high - low < 0.1
    assert fit.conf_int()["s"][0] < 0.8 < fit.conf_int()["s"][1]
    assert fit.extra["p_above_threshold_is_random"] > 0.05
    z, zlo, zhi = fit.predict([2.0, 3.0])
    assert z[0] == pytest.approx(0.16, abs=0.03) and abs(z[1]) < 0.02 and (zlo <= z).all() and (z <= zhi).all()
    assert fit.extra["pearson_r"] < 0 and "eta" in fit.summary()
    assert fit.to_dict()["params"]["eta"]["ci_low"] == low


def test_eta_interval_coverage_near_nominal():
    rng = np.random.default_rng(1)
    covered = []
    for _ in range(40):
        loss, acc = emergent_task(rng, n=60, noise=0.03)
        fit = LossCurveModel(loss, acc, [0.25] * len(loss), "acc", "t").fit()
        low, high = fit.extra["threshold_eta_interval"]
        covered.append(low <= 2.2 <= high)
    assert np.mean(covered) >= 0.85, np.mean(covered)


def test_a_floor_of_lucky_guesses_is_at_random_but_a_slow_rise_is_not():
    """Greedy exact match on 120 items: above the threshold a few lucky guesses (0 to 2 of 120) over 30
    checkpoints reject "mean exactly 0" by t-test, yet lie within 10% of the later rise: emergent. A metric
    already at a fifth of its rise above the threshold is not at random, however sharp the bend."""
    rng = np.random.default_rng(3)
    loss = np.sort(rng.uniform(3.0, 4.0, 40))
    eta = 3.3
    floor = rng.binomial(120, 0.008, 40) / 120
    rise = np.where(loss < eta, rng.binomial(120, np.clip(1.5 * (eta - loss), 0, 1)) / 120, 0.0)
    fit = LossCurveModel(loss, floor + rise, [0.0] * 40, "exact_match", "add").fit()
    assert fit.extra["p_above_threshold_is_random"] < 0.05  # the t-test alone would call it not random
    assert fit.extra["upper_above_threshold"] <= fit.extra["random_margin"]
    assert fit.extra["classification"] == "emergent"
    early = np.where(loss >= eta, 0.08 + 0.05 * (4.0 - loss), 0.0) + rise
    fit = LossCurveModel(loss, early + rng.normal(0, 0.005, 40), [0.0] * 40, "exact_match", "add").fit()
    assert fit.extra["upper_above_threshold"] > fit.extra["random_margin"]
    assert fit.extra["classification"] == "smooth"


def test_jump_detected_and_smooth_task_stays_smooth():
    rng = np.random.default_rng(2)
    loss, acc = emergent_task(rng, eta=2.5, slope=0.3, jump=0.2)
    fit = LossCurveModel(loss, acc, [0.25] * len(loss), "acc", "jumpy").fit()
    assert fit.gof["model"] == "jump" and abs(fit.params["eta"] - 2.5) < 0.05 and fit.params["j"] == pytest.approx(0.2, abs=0.05)
    smooth_acc = 0.25 + 0.3 * (3.2 - loss) + rng.normal(0, 0.02, loss.size)
    smooth = LossCurveModel(loss, smooth_acc, [0.25] * len(loss), "acc", "smooth").fit()
    assert smooth.extra["classification"] == "smooth" and smooth.params["b"] == pytest.approx(0.3, abs=0.03)


def test_lower_is_better_metric_is_oriented():
    rng = np.random.default_rng(3)
    loss = np.sort(rng.uniform(1.8, 3.2, 80))
    brier = 0.75 - np.where(loss < 2.3, 0.6 * (2.3 - loss), 0) + rng.normal(0, 0.01, loss.size)
    fit = LossCurveModel(loss, brier, [0.75] * loss.size, "brier_score", "mc").fit()
    assert fit.extra["classification"] == "emergent" and abs(fit.params["eta"] - 2.3) < 0.05 and fit.params["s"] > 0


def test_robust_to_realistic_ladders():
    """Uneven checkpoints per rung, noisy unannealed checkpoints, a few outliers, random for most of the
    range, and accuracy drifting as the learning rate decays: the threshold is still found."""
    rng = np.random.default_rng(4)
    parts = []
    for size, count, final in ((1e8, 40, 2.6), (3e8, 12, 2.3), (1e9, 7, 2.05), (3e9, 5, 1.9)):
        progress = np.linspace(0, 1, count) ** 0.5  # checkpoints along training, the last one at the final loss
        loss = 3.3 - (3.3 - final) * progress
        loss = loss + rng.normal(0, 0.03, count)  # unannealed: loss noisy checkpoint to checkpoint
        parts.append(loss)
    loss = np.concatenate(parts)
    drift = 0.01 * (loss < 2.3)  # late, low-LR checkpoints drift a little
    acc = 0.25 + np.where(loss < 2.2, 0.9 * (2.2 - loss), 0.0) + drift + rng.normal(0, 0.015, loss.size)
    acc[[3, 17, 30]] += 0.12  # outliers
    fit = LossCurveModel(loss, acc, [0.25] * loss.size, "acc", "realistic").fit()
    assert fit.extra["classification"] == "emergent"
    assert abs(fit.params["eta"] - 2.2) < 0.1
    assert (loss >= 2.2).mean() > 0.8  # most of the range at random


def test_bad_input():
    with pytest.raises(AnalysisError, match="at least 6"):
        LossCurveModel([2.0, 2.1], [0.3, 0.3], None, "acc", "tiny").fit()
    with pytest.raises(AnalysisError, match="NaN"):
        LossCurveModel([2.0, float("nan")] * 4, [0.3] * 8, None, "acc", "nan").fit()
    with pytest.raises(AnalysisError, match="same loss"):
        LossCurveModel([2.0] * 8, [0.3] * 8, None, "acc", "flat").fit()


def test_collapse_test_rejects_only_when_size_matters():
    rng = np.random.default_rng(5)
    n = 120
    N = rng.choice([1e7, 4e7, 1.6e8], n)
    D = rng.uniform(1e8, 1e9, n)
    loss = rng.uniform(2.0, 3.5, n)
    base = 0.25 + 0.3 * (3.5 - loss) + 0.05 * np.sin(3 * loss)  # any shape in loss
    same = collapse_test(loss, base + rng.normal(0, 0.02, n), N, D, [0.25] * n)
    assert same.gof["p_value"] > 0.05 and same.extra["collapses_onto_loss"]
    apart = collapse_test(loss, base + 0.04 * np.log(N / 1e7) + rng.normal(0, 0.02, n), N, D, [0.25] * n)
    # 1/1000 is the smallest p-value of the 999-draw wild cluster bootstrap.
    assert apart.gof["p_value"] <= 1e-3 and not apart.extra["collapses_onto_loss"] and apart.gof["partial_r2"] > 0.3
    assert apart.conf_int()["logN"][0] > 0
    with pytest.raises(AnalysisError, match="single model size"):
        collapse_test(loss, base, np.full(n, 1e7), D)
