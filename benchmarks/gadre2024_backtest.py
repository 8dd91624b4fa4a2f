"""Backtest on Gadre et al. 2024's ladder, through the `emergent` CLI: predict the 1.4B and 6.9B runs
from the runs below 1B, per training corpus, with our curve (--model auto) and with the paper's method
(the same loss law, then error as an exponential of loss: --model exponential), side by side.

    PYTHONPATH=. python benchmarks/gadre2024_backtest.py --data ../shared/data/gadre2024/exp_data --work /tmp/gadre

prints a markdown summary (per target size: mean absolute error in points over the 46 tasks, the error on
the average top-1 accuracy, 90% interval coverage) and writes per-task rows to WORK/backtest.json.
"""
from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

METHODS = {"ours": "auto", "paper": "exponential"}
TARGET_MIN_PARAMS = 1e9
AVERAGE_TASK = "avg_top1|acc"


def emergent(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "emergent", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"emergent {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")


def read_rows(table: Path) -> list[dict]:
    with open(table, newline="") as fh:
        return list(csv.DictReader(fh))


def subset_table(table: Path, tasks, out: Path) -> Path:
    """The table's rows of the given tasks only (a smaller backtest, e.g. for CI)."""
    rows = [r for r in read_rows(table) if r["task"] in set(tasks)]
    with open(out, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out


def backtest(table: Path, work: Path, run=emergent, bootstrap: int = 100, level: float = 0.9,
             levels=(0.9, 0.95)) -> dict:
    """Fit per corpus on runs below 1B parameters, predict each larger run; per-task errors and coverage
    (at `level`, and at every one of `levels` in each row's "covered")."""
    rows = read_rows(table)
    work.mkdir(parents=True, exist_ok=True)
    results = []
    for corpus in sorted({r["dataset"] for r in rows}):
        where = ["--where", f"dataset == {corpus}", "--where", f"params < {TARGET_MIN_PARAMS:g}"]
        law = work / f"law_{corpus}.json"
        run("fit", "loss-law", "--table", str(table), "--loss-col", "loss", *where, "--bootstrap", str(bootstrap),
            "--out", str(law))
        targets = {r["run"]: r for r in rows if r["dataset"] == corpus and float(r["params"]) > TARGET_MIN_PARAMS}
        actuals = {name: {f"{r['task']}|{r['metric']}": float(r["value"]) for r in rows if r["run"] == name}
                   for name in targets}
        for method, model in METHODS.items():
            curves = work / f"curves_{method}_{corpus}.json"
            run("fit", "loss-curve", "--table", str(table), *where, "--model", model, "--bootstrap", str(bootstrap),
                "--out", str(curves))
            for name, target in sorted(targets.items()):
                out = work / f"pred_{method}_{name}.json"
                run("predict", "--fits", str(law), "--fits", str(curves), "--params", target["params"],
                    "--tokens", target["tokens"], *[a for lv in sorted({level, *levels}) for a in ("--level", str(lv))],
                    "--out", str(out))
                pred = json.loads(out.read_text())["prediction"]
                actual = actuals[name]
                for key, p in pred["tasks"].items():
                    low, high = p["value"]["intervals"][f"{level:g}"]
                    covered = {f"{lv:g}": bool(p["value"]["intervals"][f"{lv:g}"][0] <= actual[key]
                                               <= p["value"]["intervals"][f"{lv:g}"][1]) for lv in levels}
                    results.append({"covered": covered, "method": method, "corpus": corpus, "run": name, "params": float(target["params"]),
                                    "task": key, "model": p["model"], "predicted": p["value"]["estimate"],
                                    "actual": actual[key], "low": low, "high": high,
                                    "loss_predicted": pred["loss"]["estimate"], "loss_actual": float(target["loss"])})
    return {"rows": results, "summary": summarise(results)}


def summarise(results: list[dict]) -> dict:
    """Per method and target size: mean |error| in points over tasks (and on the average), 90% coverage."""
    groups = defaultdict(list)
    for r in results:
        groups[(r["method"], f"{r['params'] / 1e9:.1f}B")].append(r)
    out = {}
    for (method, size), rs in sorted(groups.items()):
        tasks = [r for r in rs if r["task"] != AVERAGE_TASK]
        avg = [r for r in rs if r["task"] == AVERAGE_TASK]
        out[f"{method} {size}"] = {
            "runs": len({r["run"] for r in rs}),
            "mean_abs_error_points": 100 * sum(abs(r["predicted"] - r["actual"]) for r in tasks) / len(tasks),
            "average_task_abs_error_points": 100 * sum(abs(r["predicted"] - r["actual"]) for r in avg) / max(len(avg), 1),
            "coverage": sum(r["low"] <= r["actual"] <= r["high"] for r in tasks) / len(tasks),
            "coverage_95": sum(r.get("covered", {}).get("0.95", False) for r in tasks) / len(tasks),
            "average_task_coverage": sum(r["low"] <= r["actual"] <= r["high"] for r in avg) / max(len(avg), 1),
            "loss_rel_error": sum(abs(r["loss_predicted"] / r["loss_actual"] - 1) for r in avg) / max(len(avg), 1)}
    return out


def markdown(summary: dict) -> str:
    lines = ["| method, target | runs | mean abs error over tasks (points) | abs error on average (points) | "
             "90% coverage (tasks) | 95% coverage (tasks) | 90% coverage (average) | loss rel. error |",
             "|---|---|---|---|---|---|---|---|"]
    for key, s in summary.items():
        lines.append(f"| {key} | {s['runs']} | {s['mean_abs_error_points']:.2f} | {s['average_task_abs_error_points']:.2f} | "
                     f"{s['coverage']:.0%} | {s.get('coverage_95', float('nan')):.0%} | {s['average_task_coverage']:.0%} | "
                     f"{s['loss_rel_error']:.1%} |")
    return "\n".join(lines)


def per_task_markdown(results: list[dict]) -> str:
    """Per task: mean |error| (points) over each target size's runs, ours and the paper's, and how many of
    those runs our 90% interval covered; our curve as chosen per corpus."""
    cell = defaultdict(list)
    models = defaultdict(set)
    for r in results:
        cell[(r["task"], r["method"], f"{r['params'] / 1e9:.1f}B")].append(r)
        if r["method"] == "ours":
            models[r["task"]].add(r["model"])
    sizes = sorted({f"{r['params'] / 1e9:.1f}B" for r in results})
    head = ["task", "our curves"] + [f"{m} {s} err" for s in sizes for m in ("ours", "paper")] + \
        [f"ours {s} covered" for s in sizes]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for task in sorted(models):
        row = [task.split("|")[0], "/".join(sorted(models[task]))]
        for s in sizes:
            for m in ("ours", "paper"):
                rs = cell[(task, m, s)]
                row.append(f"{100 * sum(abs(r['predicted'] - r['actual']) for r in rs) / len(rs):.1f}")
        for s in sizes:
            rs = cell[(task, "ours", s)]
            row.append(f"{sum(r['low'] <= r['actual'] <= r['high'] for r in rs)}/{len(rs)}")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def leave_one_run_out(table: Path, bootstrap: int = 20, levels=(0.9, 0.95), tasks=None) -> dict:
    """Per corpus and run: every task's curve (--model auto) fitted on the corpus's other runs, their
    growth pooled over the tasks as `fit loss-curve` does, and the run's accuracy on each task predicted
    at its actual loss and size; coverage of the prediction intervals over (run, task) pairs.
    In-process (thousands of fits): the same functions the CLI calls."""
    from analysis.growth_pooling import pool_growth
    from analysis.loss_curve import fit_performance_curve

    rows = [r for r in read_rows(table) if tasks is None or r["task"] in set(tasks)]
    by_corpus = defaultdict(lambda: defaultdict(list))
    for r in rows:
        by_corpus[r["dataset"]][(r["task"], r["metric"])].append(r)
    hits = {f"{lv:g}": [] for lv in levels}
    errors = []
    for _corpus, groups in sorted(by_corpus.items()):
        for run in sorted({r["run"] for rs in groups.values() for r in rs}):
            fits, held = {}, {}
            for (task, metric), rs in sorted(groups.items()):
                rest = [r for r in rs if r["run"] != run]
                held[(task, metric)] = next(r for r in rs if r["run"] == run)
                fits[(task, metric)] = fit_performance_curve(
                    [float(r["loss"]) for r in rest], [float(r["value"]) for r in rest],
                    [float(r["random_baseline"]) for r in rest], [float(r["params"]) for r in rest],
                    [r["run"] for r in rest], metric=metric, task=task, higher=held[(task, metric)]["higher_is_better"],
                    n_boot=bootstrap, classify=False)
            pool_growth(fits)
            for key, fit in fits.items():
                target, actual = held[key], float(held[key]["value"])
                for lv in levels:
                    p = fit.predict(float(target["loss"]), alpha=1 - lv, n_draws=2000, params=float(target["params"]))
                    hits[f"{lv:g}"].append(p["low"] <= actual <= p["high"])
                errors.append(abs(fit.curve([float(target["loss"])])[0] - actual))
    return {"pairs": len(errors), "coverage": {k: sum(v) / len(v) for k, v in hits.items()},
            "mean_abs_error_points": 100 * sum(errors) / len(errors)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--bootstrap", type=int, default=100)
    parser.add_argument("--tasks", nargs="*", help="Only these tasks (default: all 47).")
    parser.add_argument("--loro", action="store_true",
                        help="Also leave-one-run-out coverage of the curves at each run's actual loss, growth pooled over the tasks (slow: one fit per run and task).")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    emergent("convert", "gadre2024", "--data", args.data, "--out", str(work / "table.csv"))
    table = subset_table(work / "table.csv", args.tasks, work / "table_subset.csv") if args.tasks else work / "table.csv"
    result = backtest(table, work, bootstrap=args.bootstrap)
    if args.loro:
        result["leave_one_run_out"] = leave_one_run_out(table, tasks=args.tasks)
        print("leave one run out:", json.dumps(result["leave_one_run_out"]))
    (work / "backtest.json").write_text(json.dumps(result, indent=1))
    print(markdown(result["summary"]))
    print()
    print(per_task_markdown(result["rows"]))


if __name__ == "__main__":
    main()
