"""The collapse test (does N or D explain performance beyond loss?) on ladders with run-level noise and
autocorrelated checkpoints: its size (false rejections near 5%) and its power against a stated N effect."""
from __future__ import annotations

import numpy as np
import pytest

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


# --- The practical verdict (issue 21): what size adds across the ladder at equal loss, against a margin (TOST). ---
SPAN = float(np.log(SIZES[-1] / SIZES[0]))  # 3.4 e-folds of N


def verdicts(seed: int, n_effect: float, margin: float, sims: int) -> dict:
    rng = np.random.default_rng(seed)
    counts: dict = {}
    for _ in range(sims):
        loss, acc, params, tokens, runs = ladder(rng, n_effect)
        v = collapse_test(loss, acc, params, tokens, [0.25] * len(loss), runs=runs, margin=margin).extra["equivalence"]
        counts[v.split(" within")[0]] = counts.get(v.split(" within")[0], 0) + 1
    return {k: v / sims for k, v in counts.items()}


def test_equivalence_verdict_power_size_and_equivalence_rate():
    # No effect, a margin this design resolves (its 90% interval is ~9 points wide): equivalence is shown.
    assert verdicts(6, 0.0, margin=0.10, sims=30).get("collapses", 0) >= 0.8
    # 3 points per e-fold = 10 points across the ladder, margin 1 point: "size matters" (power).
    assert verdicts(7, N_EFFECT, margin=0.01, sims=30).get("size matters", 0) >= 0.8
    # A true effect at the margin (5 points across the ladder): neither verdict should come often (nominal 5% each;
    # clustered t on 16 runs measured 10% and 7% over 60 ladders).
    at_margin = verdicts(8, 0.05 / SPAN, margin=0.05, sims=40)
    assert at_margin.get("collapses", 0) <= 0.2 and at_margin.get("size matters", 0) <= 0.2, at_margin
    # No effect, margin 1 point: never "size matters" beyond the test's size.
    assert verdicts(9, 0.0, margin=0.01, sims=30).get("size matters", 0) <= 0.15


def test_equivalence_verdict_is_recorded_with_its_interval():
    loss, acc, params, tokens, runs = ladder(np.random.default_rng(1))
    fit = collapse_test(loss, acc, params, tokens, [0.25] * len(loss), runs=runs)
    low, high = fit.extra["size_effect_over_span_interval_90"]
    assert low <= fit.extra["size_effect_over_span"] <= high
    assert fit.extra["margin"] == 0.01 and fit.extra["log_size_span"] == pytest.approx(SPAN)
    assert fit.extra["equivalence"] in ("collapses within 1", "size matters", "undecided")
