"""`emergent fit ...` and `emergent predict` on contract files; figures rendered; a public CSV with its own column names."""
from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from tests.conftest import run_cli
from tests.synthetic import passuntil_records, task_law

SIZES = [1e7, 3e7, 1e8, 3e8]
BUDGETS = {1e7: [2e8, 6e8], 3e7: [6e8, 2e9], 1e8: [2e9, 6e9], 3e8: [6e9]}


def true_loss(N, D):
    return 1.7 + 400.0 / N ** 0.34 + 410.0 / D ** 0.28


@pytest.fixture(scope="module")
def study_files(tmp_path_factory):
    """Run directories, an eval table and PassUntil records of a synthetic 4-size ladder."""
    root = tmp_path_factory.mktemp("synthetic_study")
    rng = np.random.default_rng(0)
    eval_rows, runs = [], []
    for N in SIZES:
        for D in BUDGETS[N]:
            name = f"n{N:.0e}-d{D:.0e}"
            run = root / "runs" / name
            run.mkdir(parents=True)
            lines = []
            for step, frac in enumerate(np.linspace(0.1, 1.0, 8), 1):
                tokens = frac * D
                loss = true_loss(N, tokens) * math.exp(rng.normal(0, 0.003))
                lines.append({"run": name, "step": step, "tokens": tokens, "params": N, "params_nonembedding": N,
                              "flops": 6 * N * tokens, "val_loss": loss, "train_loss": loss, "lr": 1e-3,
                              "path": f"checkpoints/step_{step:08d}"})
                for task, eta in (("mmlu", 3.6), ("hellaswag", None)):
                    if eta:
                        acc = 0.25 + (0.8 * (eta - loss) if loss < eta else 0.0) + rng.normal(0, 0.01)
                    else:
                        acc = 0.25 + 0.08 * (7.5 - loss) + rng.normal(0, 0.01)
                    eval_rows.append({"run": name, "checkpoint": f"step_{step:08d}", "step": step, "params": N,
                                      "tokens": tokens, "loss": loss, "task": task, "metric": "acc", "value": acc,
                                      "stderr": 0.01, "random_baseline": 0.25})
            (run / "checkpoints.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
            runs.append(run)
    table = root / "eval.csv"
    with open(table, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(eval_rows[0]))
        writer.writeheader()
        writer.writerows(eval_rows)
    insts = [task_law(math.exp(a), 0.6) for a in rng.normal(math.log(3e4), 0.4, 30)]
    records = root / "pu.jsonl"
    records.write_text("".join(json.dumps(r) + "\n" for r in passuntil_records(insts, SIZES, seed=3, task="code")))
    return {"root": root, "runs": runs, "table": table, "records": records}


def test_fit_commands_write_json_and_figures(study_files, tmp_path):
    figs = tmp_path / "figs"
    curve = run_cli("fit", "loss-curve", "--table", str(study_files["table"]), "--out", str(tmp_path / "curve.json"),
                    "--plot", str(figs), check=True)
    assert "mmlu|acc" in curve.stdout and "collapse test" in curve.stdout
    fits = json.loads((tmp_path / "curve.json").read_text())
    assert fits["loss_curves"]["mmlu|acc"]["classification"] == "emergent"
    assert fits["loss_curves"]["hellaswag|acc"]["classification"] == "smooth"
    # The emergence test's threshold travels beside the prediction curve (chosen by held-out error).
    eta = fits["loss_curves"]["mmlu|acc"]["emergence"]["params"]["eta"]
    assert eta["ci_low"] <= 3.6 <= eta["ci_high"] and "versions" in fits["loss_curves"]["mmlu|acc"]["made_with"]
    assert fits["loss_curves"]["mmlu|acc"]["selection"]["criterion"] == "held-out RMSE"

    law_args = [a for run in study_files["runs"] for a in ("--table", str(run))]
    run_cli("fit", "loss-law", *law_args, "--out", str(tmp_path / "law.json"), "--plot", str(figs), "--bootstrap", "60",
            check=True)
    law = json.loads((tmp_path / "law.json").read_text())["loss_law"]
    assert law["law"] == "loss_law" and law["data"]["n_runs"] == 7

    task = run_cli("fit", "task-law", "--records", str(study_files["records"]), "--target", "2.4e9",
                   "--out", str(tmp_path / "task.json"), "--plot", str(figs), check=True)
    assert "PU at N = 2.4e+09" in task.stdout and "forecast (code)" in task.stdout
    assert json.loads((tmp_path / "task.json").read_text())["target"]["params"] == 2.4e9
    emergence = run_cli("fit", "emergence", "--records", str(study_files["records"]), "--bootstrap", "200",
                        "--out", str(tmp_path / "emergence.json"), check=True)
    assert "shape: linear" in emergence.stdout
    for png in ("performance_vs_loss.png", "loss_vs_compute.png", "task_law_code.png"):
        assert (figs / png).stat().st_size > 10_000, png

    predicted = run_cli("predict", "--fits", str(tmp_path / "curve.json"), "--fits", str(tmp_path / "law.json"),
                        "--fits", str(tmp_path / "task.json"), "--params", "1e9", "--tokens", "2e10",
                        "--out", str(tmp_path / "pred.json"), check=True)
    pred = json.loads((tmp_path / "pred.json").read_text())["prediction"]
    assert pred["loss"]["low"] <= true_loss(1e9, 2e10) <= pred["loss"]["high"]
    assert pred["tasks"]["mmlu|acc"]["value"]["estimate"] > 0.25 and "code" in pred["passuntil"]
    assert "mmlu|acc" in predicted.stdout


def test_holdout_backtest(study_files, tmp_path):
    args = ["predict", "--holdout", "largest", "--table", str(study_files["table"]), "--records", str(study_files["records"]),
            "--out", str(tmp_path / "backtest.json")]
    for run in study_files["runs"]:
        args += ["--runs", str(run)]
    result = run_cli(*args, check=True)
    assert "actual" in result.stdout and "rel err" in result.stdout
    backtest = json.loads((tmp_path / "backtest.json").read_text())
    pred, actual = backtest["prediction"], backtest["actual"]
    assert pred["params"] == 3e8
    assert abs(pred["loss"]["estimate"] / actual["loss"] - 1) < 0.05
    assert pred["passuntil"]["code"]["low"] <= actual["passuntil"]["code"] * 1.5


def test_public_csv_with_own_column_names(tmp_path):
    rows = [{"model_size": N, "train_tokens": D, "final_loss": true_loss(N, D)} for N in SIZES for D in (3e8, 3e9, 3e10)]
    path = tmp_path / "public.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    ok = run_cli("fit", "loss-law", "--table", str(path), "--params-col", "model_size", "--tokens-col", "train_tokens",
                 "--loss-col", "final_loss", "--bootstrap", "40", "--out", str(tmp_path / "law.json"), check=True)
    assert "alpha" in ok.stdout
    bad = run_cli("fit", "loss-law", "--table", str(path), "--out", str(tmp_path / "law2.json"))
    assert bad.returncode == 2 and "no column 'params'" in bad.stderr and "--*-col" in bad.stderr
    assert not (tmp_path / "law2.json").exists()
    # --fixed-d on three budgets 100x apart is refused (the budget matters); one budget fits, and
    # eta's interval widens N*'s.
    pooled = run_cli("fit", "loss-law", "--table", str(path), "--params-col", "model_size", "--tokens-col", "train_tokens",
                     "--loss-col", "final_loss", "--fixed-d", "--bootstrap", "10", "--out", str(tmp_path / "law3.json"))
    assert pooled.returncode == 2 and "pools 3 token budgets" in pooled.stderr, pooled.stderr
    fixed = run_cli("fit", "loss-law", "--table", str(path), "--params-col", "model_size", "--tokens-col", "train_tokens",
                    "--loss-col", "final_loss", "--fixed-d", "--where", "train_tokens == 3e9", "--eta", "2.5",
                    "--eta-interval", "2.45", "2.55", "--bootstrap", "40", "--out", str(tmp_path / "law3.json"), check=True)
    assert "size threshold for loss 2.5" in fixed.stdout
    threshold = json.loads((tmp_path / "law3.json").read_text())["loss_law"]["extra"]["size_threshold"]
    assert threshold["eta_interval"] == [2.45, 2.55]


def test_task_law_skips_a_task_that_never_passes_and_keeps_the_others(tmp_path):
    """PassUntil files of several tasks, one never passing at the cap (as copying does on the tiny preset): the
    others are fitted and written, the failing one is named on stderr and under "skipped"; --task selects."""
    from contracts.atomic import write_jsonl_atomic

    sizes = [1e7, 3e7, 1e8, 3e8]
    records = passuntil_records([task_law(40.0, 0.25)] * 6, sizes, r=2, cap=400, task="learned", seed=1)
    records += passuntil_records([lambda n: 0.0] * 6, sizes, r=2, cap=400, task="never", seed=2)
    path = tmp_path / "records.jsonl"
    write_jsonl_atomic(path, records)
    out = tmp_path / "task.json"
    result = run_cli("fit", "task-law", "--records", str(path), "--out", str(out), check=True)
    assert "warning: task never skipped" in result.stderr and "== learned" in result.stdout
    fits = json.loads(out.read_text())
    assert set(fits["task_laws"]) == {"learned"} and set(fits["skipped"]) == {"never"}

    alone = run_cli("fit", "task-law", "--records", str(path), "--task", "never", "--out", str(tmp_path / "n.json"))
    assert alone.returncode == 2 and not (tmp_path / "n.json").exists()
    unknown = run_cli("fit", "task-law", "--records", str(path), "--task", "nope", "--out", str(tmp_path / "x.json"))
    assert unknown.returncode == 2 and "--task nope: not in the PassUntil files" in unknown.stderr
