"""The collapse test (does N or D explain performance beyond loss?) on ladders with run-level noise and
autocorrelated checkpoints: its size (false rejections near 5%) and its power against a stated N effect."""
from __future__ import annotations

import numpy as np

from analysis.loss_curve import collapse_test

SIZES = [1e7, 3e7, 1e8, 3e8]
MULTIPLIERS = [5, 10, 20, 40]  # tokens per parameter: 16 runs of 4 sizes x 4 budgets
RUN_SD, CHECKPOINT_SD, RHO = 0.02, 0.01, 0.8
N_EFFECT = 0.03  # accuracy per e-fold of N beyond loss (3 points): the effect the power is stated for


def ladder(rng, n_effect: float = 0.0, n_checkpoints: int = 12):
    loss, acc, params, tokens, runs = [], [], [], [], []
    for N in SIZES:
        for m in MULTIPLIERS:
            D = m * N
            t = D * np.linspace(0.1, 1.0, n_checkpoints)
            L = 1.8 + 300 * N ** -0.3 + 400 * t ** -0.3
            noise = np.empty(n_checkpoints)
            noise[0] = rng.normal(0, CHECKPOINT_SD)
            for i in range(1, n_checkpoints):
                noise[i] = RHO * noise[i - 1] + rng.normal(0, CHECKPOINT_SD * np.sqrt(1 - RHO ** 2))
            z = 0.6 / (1 + np.exp(-3 * (3.2 - L))) + n_effect * np.log(N / 1e8) + rng.normal(0, RUN_SD) + noise
            loss += list(L)
            acc += list(0.25 + z)
            params += [N] * n_checkpoints
            tokens += list(t)
            runs += [f"{N:g}-{m}"] * n_checkpoints
    return loss, acc, params, tokens, runs


def rejection_rate(seed: int, n_effect: float, sims: int = 80) -> tuple[float, list]:
    rng = np.random.default_rng(seed)
    rejected, effects = [], []
    for _ in range(sims):
        loss, acc, params, tokens, runs = ladder(rng, n_effect)
        fit = collapse_test(loss, acc, params, tokens, [0.25] * len(loss), metric="acc", runs=runs)
        rejected.append(not fit.extra["collapses_onto_loss"])
        effects.append((fit.extra["N_effect_per_efold"], *fit.extra["N_effect_per_efold_interval"]))
    return float(np.mean(rejected)), effects


def test_collapse_test_size_with_run_noise_and_correlated_checkpoints():
    rate, effects = rejection_rate(seed=1, n_effect=0.0)
    assert rate <= 0.10, rate  # nominal 5%; 80 simulations: standard error 2.4 points
    covered = np.mean([lo <= 0.0 <= hi for _, lo, hi in effects])
    assert covered >= 0.85, covered


def test_collapse_test_power_against_three_points_per_efold_of_N():
    rate, effects = rejection_rate(seed=2, n_effect=N_EFFECT, sims=40)
    assert rate >= 0.8, rate
    estimates = np.array([e for e, _, _ in effects])
    assert abs(np.median(estimates) - N_EFFECT) < 0.012, np.median(estimates)
