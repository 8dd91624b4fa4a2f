"""Prediction intervals of the loss -> performance step, measured by simulation on ladders shaped like
real ones: run-level offsets, autocorrelated checkpoints, saturation; and the results' round trip."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from analysis.loss_curve import fit_performance_curve
from analysis.results import LossCurveResults

SIZES = [1e7, 3e7, 1e8, 3e8]
RUN_SD, CHECKPOINT_SD, RHO = 0.015, 0.01, 0.7


def truth(kind: str, loss):
    if kind == "sigmoid":
        return 0.25 + 0.75 * expit(4.0 * (3.3 - loss))
    return 0.25 + np.minimum(0.75, 0.5 * np.clip(3.4 - loss, 0, None))


def run_series(rng, kind, N, n_checkpoints=10):
    """One run: its losses along training and accuracies with a run offset and AR(1) checkpoint noise."""
    frac = np.linspace(0.1, 1.0, n_checkpoints)
    loss = 1.9 + 30.0 * N ** -0.2 * frac ** -0.15 + rng.normal(0, 0.01)
    noise = np.empty(n_checkpoints)
    noise[0] = rng.normal(0, CHECKPOINT_SD)
    for i in range(1, n_checkpoints):
        noise[i] = RHO * noise[i - 1] + rng.normal(0, CHECKPOINT_SD * np.sqrt(1 - RHO ** 2))
    return loss, np.clip(truth(kind, loss) + rng.normal(0, RUN_SD) + noise, 0, 1)


def ladder(rng, kind, runs_per_size=2):
    L, V, P, R = [], [], [], []
    for N in SIZES:
        for k in range(runs_per_size):
            loss, acc = run_series(rng, kind, N)
            L += list(loss)
            V += list(acc)
            P += [N] * len(loss)
            R += [f"{N:g}-{k}"] * len(loss)
    return L, V, P, R


@pytest.mark.parametrize("kind", ["sigmoid", "threshold"])
def test_prediction_interval_coverage_for_a_new_larger_run(kind):
    """A new run one size up (an extrapolation in loss): its final checkpoint's accuracy, predicted at
    its loss; the 90% interval should cover about 90% (simulation standard error about 2.5 points)."""
    rng = np.random.default_rng({"sigmoid": 11, "threshold": 12}[kind])
    hits, mixed = [], 0
    for _ in range(24):
        L, V, P, R = ladder(rng, kind)
        fit = fit_performance_curve(L, V, [0.25] * len(L), P, R, metric="acc", task=kind, n_boot=40, classify=False)
        mixed += bool(fit.mixture)
        for N in (3e8, 1e9):
            for _ in range(2):
                loss, acc = run_series(rng, kind, N)
                p = fit.predict(loss[-1], alpha=0.1, n_draws=2000, params=N)
                assert 0.0 <= p["low"] <= p["high"] <= 1.0
                hits.append(p["low"] <= acc[-1] <= p["high"])
    coverage = float(np.mean(hits))
    print(f"{kind}: 90% prediction intervals cover {coverage:.1%} of {len(hits)} new runs ({mixed} of 24 fits mix curves)")
    assert 0.82 <= coverage <= 0.98, coverage
    if kind == "threshold":  # the choice between line, hinge and jump is uncertain here, and carried
        assert mixed >= 6, mixed


def test_extrapolation_error_growth_is_learnt_and_scales_the_scatter():
    from analysis.curve_family import error_sd, extrapolation_growth

    rng = np.random.default_rng(7)
    dist = np.repeat([0.0, 0.1, 0.2, 0.4], 50)
    resid = rng.normal(0, 0.01 + 0.1 * dist)
    growth = extrapolation_growth(resid, dist, loss_min=2.0)
    assert growth["b"] > 0 and 0.5e-4 < growth["a"] < 4e-4, growth  # truth: var = (0.01 + 0.1 d)^2
    sd = error_sd(growth, np.array([2.5, 2.0, 1.6]))  # above the data, at its edge, 0.4 below it
    assert sd[0] == sd[1] and 0.04 < sd[2] < 0.06, sd
    assert extrapolation_growth(resid[:50], dist[:50], 2.0) is None  # one distance: nothing to learn


def test_nothing_predicted_beyond_the_ceiling_and_round_trip():
    rng = np.random.default_rng(5)
    L, V, P, R = ladder(rng, "threshold")
    for model in ("sigmoid", "hinge", "jump", "line"):
        fit = fit_performance_curve(L, V, [0.25] * len(L), P, R, metric="acc", task="t", model=model, n_boot=20,
                                    classify=False)
        far = fit.predict(0.5, alpha=0.05)  # far below any observed loss
        assert far["estimate"] <= 1.0 and far["high"] <= 1.0, (model, far)
        assert fit.predict(9.0)["low"] >= 0.25 - 0.1, model  # far above: near chance, never far below it
        again = LossCurveResults.from_dict(fit.to_dict())
        assert again == fit and again.predict(2.5) == fit.predict(2.5)
        assert set(fit.conf_int(0.1)) == set(fit.params) and fit.model in fit.summary()


def test_error_growth_with_model_size_is_learnt_apart_from_loss_distance():
    """Held-out errors that grow with the e-folds of size beyond the data (at the same loss distance)
    give c > 0; a prediction for a larger model then gets a wider scatter than one at the largest size.
    Errors that do not depend on size leave c near 0."""
    from analysis.curve_family import error_sd, extrapolation_growth

    rng = np.random.default_rng(3)
    dist = np.tile([0.0, 0.1, 0.2, 0.3], 60)
    size_dist = np.repeat([0.5, 1.0, 1.5, 2.0], 60)
    resid = rng.normal(0, np.sqrt(1e-4 + 0.01 * dist ** 2 + 4e-4 * size_dist ** 2))
    growth = extrapolation_growth(resid, dist, 2.0, size_dist, params_max=1e8)
    assert 1.5e-4 < growth["c"] < 8e-4, growth  # truth 4e-4
    same, larger = error_sd(growth, [2.0], 1e8)[0], error_sd(growth, [2.0], 1e8 * np.e ** 2)[0]
    assert larger > 1.5 * same, (same, larger)
    assert error_sd(growth, [2.0])[0] == same  # size unknown: the loss distance alone
    flat = extrapolation_growth(rng.normal(0, np.sqrt(1e-4 + 0.01 * dist ** 2)), dist, 2.0, size_dist, 1e8)
    assert flat["c"] < 5e-5, flat

