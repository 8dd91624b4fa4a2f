"""Options a researcher needs on real logs: globs, --where, --skip-first/--smooth/--last, the metric's
direction from the table, limited rows refused, and `fit loss-law --bootstrap 0`."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from analysis.loss_curve import fit_performance_curve, higher_is_better
from analysis.pipeline import fit_loss_curves
from analysis.preprocess import check_limits, expand_paths, filter_rows, per_run
from analysis.results import AnalysisError, LossLawResults
from tests.conftest import run_cli


def series(run="r", n=10, task="t", metric="acc"):
    return [{"run": run, "step": str(s), "task": task, "metric": metric, "loss": str(4.0 - 0.1 * s), "value": str(0.3 + 0.01 * s)}
            for s in range(n)]


def test_skip_first_smooth_last_work_per_run():
    rows = series("a") + series("b")
    kept = per_run(rows, ("loss", "value"), skip_first=0.3)
    assert len(kept) == 14 and min(int(r["step"]) for r in kept) == 3
    smooth = per_run(series("a"), ("loss", "value"), smooth=3)
    assert smooth[4]["value"] == pytest.approx(0.34) and smooth[0]["value"] == pytest.approx(0.305)
    last = per_run(rows, ("loss", "value"), last=4)
    assert len(last) == 2 and all(r["value"] == pytest.approx(0.375) and r["step"] == "9" for r in last)
    with pytest.raises(AnalysisError, match="fraction"):
        per_run(rows, ("loss",), skip_first=1.0)


def test_where_filter_and_globs(tmp_path):
    rows = series("a") + series("b")
    assert len(filter_rows(rows, ["run == b", "step >= 5"])) == 5
    assert len(filter_rows(rows, ["loss < 3.55"])) == 10  # steps 5-9 of both runs
    with pytest.raises(AnalysisError, match="no column 'size'"):
        filter_rows(rows, ["size > 3"])
    with pytest.raises(AnalysisError, match="column op value"):
        filter_rows(rows, ["run is b"])
    for name in ("x1.csv", "x2.csv"):
        (tmp_path / name).write_text("a\n1\n")
    assert expand_paths([str(tmp_path / "x*.csv")]) == [str(tmp_path / "x1.csv"), str(tmp_path / "x2.csv")]
    with pytest.raises(AnalysisError, match="matches no file"):
        expand_paths([str(tmp_path / "y*.csv")])


def test_direction_comes_from_the_table_not_the_name():
    assert higher_is_better("acc") and not higher_is_better("brier_score") and not higher_is_better("acc", "false")
    with pytest.raises(AnalysisError, match="higher_is_better column"):
        higher_is_better("wikitext_bpb_ish")
    rng = np.random.default_rng(0)
    loss = np.repeat(np.linspace(3.5, 2.5, 6), 2)
    bpb = 1.2 - 0.3 * (3.5 - loss) + rng.normal(0, 0.005, loss.size)  # falls as loss falls: lower is better
    runs = [f"r{i // 2}" for i in range(loss.size)]
    fit = fit_performance_curve(loss, bpb, None, np.repeat([1e7, 2e7, 4e7, 8e7, 1.6e8, 3.2e8], 2), runs,
                                metric="my_bpb", higher="false", n_boot=10, classify=False)
    assert not fit.higher_is_better and fit.predict(2.0)["estimate"] < bpb.min()


def test_mixed_limited_and_full_rows_are_refused():
    rows = [{**r, "limit": ""} for r in series("a")] + [{**r, "limit": "50"} for r in series("b")]
    with pytest.raises(AnalysisError, match=r"the fit's rows: .* mixes rows from different evaluations \(full, limit=50\)"):
        check_limits(rows)
    with pytest.raises(AnalysisError, match="--limit"):
        fit_loss_curves([{**r, "params": "1e7", "tokens": "1e9", "random_baseline": "0.25"} for r in rows])


def test_loss_law_without_bootstrap(tmp_path):
    path = tmp_path / "law.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["params", "tokens", "val_loss"])
        for N in (1e7, 3e7, 1e8, 3e8):
            for D in (3e8, 3e9, 3e10):
                writer.writerow([N, D, 1.7 + 400.0 / N ** 0.34 + 410.0 / D ** 0.28])
    run_cli("fit", "loss-law", "--table", str(path), "--bootstrap", "0", "--out", str(tmp_path / "l.json"), check=True)
    law = LossLawResults.from_dict(json.loads((tmp_path / "l.json").read_text())["loss_law"])
    truth = 1.7 + 400 / 1e9 ** 0.34 + 410 / 2e10 ** 0.28
    assert law.draws == [] and law.predict((1e9, 2e10))["estimate"] == pytest.approx(truth, rel=0.01)


def test_loss_law_reads_an_eval_tables_loss_column_without_being_told(tmp_path):
    """An eval table names its loss `loss` (checkpoints.jsonl: `val_loss`); `fit loss-law --table` takes
    whichever the table has, and a table with neither gets the one-line column error."""
    path = tmp_path / "eval.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["run", "step", "params", "tokens", "loss", "task", "metric", "value"])
        for N in (1e7, 3e7, 1e8, 3e8):
            for D in (3e8, 3e9, 3e10):
                for task in ("a", "b"):  # the loss repeats on every task's row of a checkpoint
                    writer.writerow([f"{N:g}-{D:g}", 1, N, D, 1.7 + 400.0 / N ** 0.34 + 410.0 / D ** 0.28, task, "acc", 0.5])
    run_cli("fit", "loss-law", "--table", str(path), "--bootstrap", "0", "--out", str(tmp_path / "l.json"), check=True)
    law = LossLawResults.from_dict(json.loads((tmp_path / "l.json").read_text())["loss_law"])
    assert law.predict((1e9, 2e10))["estimate"] == pytest.approx(1.7 + 400 / 1e9 ** 0.34 + 410 / 2e10 ** 0.28, rel=0.01)
    no_loss = tmp_path / "no_loss.csv"
    no_loss.write_text("params,tokens,final\n1e7,1e9,3.0\n")
    bad = run_cli("fit", "loss-law", "--table", str(no_loss), "--out", str(tmp_path / "l2.json"))
    assert bad.returncode == 2 and "no column 'val_loss'" in bad.stderr and not (tmp_path / "l2.json").exists()
