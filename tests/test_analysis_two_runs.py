"""Du et al.'s own setting: a handful of long runs with many intermediate checkpoints. Two runs of 1,112 checkpoints
each, fitted so closely that every BIC is negative (rss/n < 1): the choice among curves must still work (it
crashed when the near-tie margin was a ratio of a negative best), and say which rule it used and why."""
from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from analysis.curve_family import _pick
from analysis.pipeline import fit_loss_curves
from tests.conftest import run_cli


def two_trajectories(n_checkpoints: int = 1112, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for run, N in enumerate((4e8, 1.4e9)):
        for k in range(n_checkpoints):
            tokens = 3e11 * (k + 1) / n_checkpoints
            loss = 1.8 + 400 / N ** 0.34 + 410 / tokens ** 0.28
            acc = 0.25 + 0.5 / (1 + math.exp((loss - 2.6) / 0.05)) + rng.normal(0, 0.004)
            rows.append({"run": f"r{run}", "checkpoint": f"r{run}/step{k}", "step": k, "params": N, "tokens": tokens,
                         "loss": loss, "task": "mmlu", "metric": "acc", "value": acc, "stderr": 0.004,
                         "random_baseline": 0.25})
    return rows


def test_pick_with_negative_scores_keeps_the_best_and_prefers_fewer_parameters():
    assert _pick({"sigmoid": -14330.0, "line": -12670.0}) == "sigmoid"
    assert _pick({"sigmoid": -14330.0, "line": -14329.0}) == "line"  # within 2 BIC: the simpler
    assert _pick({"jump": -5.0}) == "jump"


def test_two_long_runs_through_the_cli(tmp_path):
    rows = two_trajectories()
    table = tmp_path / "eval.csv"
    with table.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "fits.json"
    res = run_cli("fit", "loss-curve", "--table", str(table), "--bootstrap", "10", "--out", str(out), check=True)
    assert "Traceback" not in res.stderr
    assert "fewer than 3 runs" in res.stdout and "BIC" in res.stdout  # the rule used, and why
    curve = json.loads(out.read_text())["loss_curves"]["mmlu|acc"]
    scores = curve["selection"]["scores"]
    assert all(v < 0 for v in scores.values()), scores
    assert curve["model"] in scores


@pytest.mark.parametrize("model", ["line", "jump"])
def test_two_long_runs_with_one_model(model):
    fits = fit_loss_curves(two_trajectories(400), model=model, n_boot=5)
    curve = fits["loss_curves"]["mmlu|acc"]
    assert curve.model == model
    assert np.isfinite(curve.curve([2.5, 3.0])).all()


def test_the_bootstrap_fits_show_a_progress_bar(capsys):
    rows = two_trajectories(60) + [{**r, "task": "hellaswag"} for r in two_trajectories(60, seed=1)]
    fit_loss_curves(rows, model="line", n_boot=5, progress=True)
    err = capsys.readouterr().err
    assert "fit loss-curve (5 bootstrap refits each)" in err and "2/2" in err
    fit_loss_curves(rows, model="line", n_boot=5)  # default: a bar only on a terminal, so none in a pipe
    assert "fit loss-curve" not in capsys.readouterr().err
