"""Other labs' ladders into the eval table (one row per checkpoint, task and metric; see docs/ANALYSIS.md).

`emergent convert lm-eval DIR... [--losses FILE] --out table.csv`: any folders of lm-eval outputs joined with a loss
per checkpoint (analysis/convert_lm_eval.py).

`emergent convert gadre2024 --data DIR --out table.csv`: the public data of Gadre et al. 2024
(mlfoundations/scaling, exp_data/): 104 final checkpoints, 46 downstream tasks (top-1 accuracy) with
random baselines from eval_metadata.csv, and the validation loss of a chosen set (default: C4 eval,
which the paper fits). Extra columns: dataset (training corpus) and chinchilla_multiplier (M = D / 20N),
usable with --where. An `avg_top1` task is added: the mean accuracy over all tasks of a run (the
paper predicts the average top-1 error).
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import click

from analysis.results import AnalysisError

COLUMNS = ["run", "checkpoint", "step", "params", "tokens", "loss", "task", "metric", "value", "stderr", "random_baseline",
           "higher_is_better", "limit", "num_fewshot", "task_version", "lm_eval_version", "dataset",
           "chinchilla_multiplier"]
AVERAGE_TASK = "avg_top1"


def _loss_set(entry: dict) -> str:
    parts = entry["val_data"][0].split("/")
    return parts[3] if parts[2] == "val_tok_mult" else parts[2]


def gadre2024_rows(data_dir: str | Path, loss_set: str = "c4_val") -> list[dict]:
    root = Path(data_dir)
    root = root / "exp_data" if (root / "exp_data").is_dir() else root
    if not (root / "models").is_dir() or not (root / "eval_metadata.csv").is_file():
        raise AnalysisError(f"{data_dir}: no models/ and eval_metadata.csv; point --data at the repository's exp_data")
    with open(root / "eval_metadata.csv", newline="", encoding="utf-8") as fh:
        meta = {r["Eval Task"]: r for r in csv.DictReader(fh)}
    rows = []
    for model_path in sorted((root / "models").glob("*.json")):
        model = json.loads(model_path.read_text())
        name, hp = model["name"], model["hyperparameters"]
        losses = {_loss_set(r): r["loss"] for r in model["results"]}
        if loss_set not in losses:
            raise AnalysisError(f"{model_path.name}: no loss on {loss_set!r} (sets: {', '.join(sorted(losses))})")
        eval_path = root / "evals" / f"evaluation_{name}_heavy.json"
        if not eval_path.is_file():
            raise AnalysisError(f"{eval_path} is missing: every run needs its evaluation file")
        scores = json.loads(eval_path.read_text())["eval_metrics"]["icl"]
        common = {"run": name, "checkpoint": "final", "step": 1, "params": hp["params"], "tokens": hp["tokens"],
                  "loss": losses[loss_set], "metric": "acc", "stderr": "", "higher_is_better": "true", "limit": "",
                  "task_version": "", "lm_eval_version": "", "dataset": model["dataset_name"],
                  "chinchilla_multiplier": hp["chinchilla_multiplier"]}
        tasks = sorted(t for t in scores if t in meta)
        for task in tasks:
            rows.append({**common, "task": task, "value": scores[task], "num_fewshot": meta[task]["#shots"],
                         "random_baseline": float(meta[task]["Random baseline"]) / 100})
        rows.append({**common, "task": AVERAGE_TASK, "value": sum(scores[t] for t in tasks) / len(tasks), "num_fewshot": "",
                     "random_baseline": sum(float(meta[t]["Random baseline"]) / 100 for t in tasks) / len(tasks)})
    return rows


def write_table(rows: list[dict], path) -> None:
    from contracts.atomic import write_text_atomic

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())


@click.group("convert")
def convert_group():
    """Convert other labs' ladder data into the eval table."""


@convert_group.command("gadre2024")
@click.option("--data", required=True, type=click.Path(file_okay=False), help="The repository's exp_data directory.")
@click.option("--loss-set", default="c4_val", show_default=True, help="Validation set whose loss fills `loss`.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Eval table (CSV) to write.")
def gadre2024_command(data, loss_set, out):
    """Gadre et al. 2024 (mlfoundations/scaling exp_data) -> eval table CSV."""
    rows = gadre2024_rows(data, loss_set)
    write_table(rows, out)
    click.echo(f"{out}: {len(rows)} rows, {len({r['run'] for r in rows})} runs, {len({r['task'] for r in rows})} tasks")


@convert_group.command("lm-eval")
@click.argument("targets", nargs=-1, required=True)
@click.option("--losses", type=click.Path(dir_okay=False),
              help="CSV (with a header) or JSONL: checkpoint,loss[,params,tokens,run,step]; checkpoint is the folder "
                   "holding the results file, lm-eval's model_name_sanitized or the model path. Not needed for "
                   "checkpoints whose config.json records their loss (this project's do).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Eval table (CSV) to write.")
def lm_eval_command(targets, losses, out):
    """lm-eval output folders (results_*.json, lm-eval 0.4) of any checkpoints -> eval table CSV."""
    from analysis.convert_lm_eval import lm_eval_rows
    from contracts.atomic import check_output_path
    from contracts.eval_table import write_eval_table

    check_output_path(out)
    rows = lm_eval_rows(targets, losses, warn=lambda text: click.echo(text, err=True))
    write_eval_table(out, rows)
    checkpoints = {(r["run"], r["checkpoint"]) for r in rows}
    click.echo(f"{out}: {len(rows)} rows, {len(checkpoints)} checkpoints, {len({r['task'] for r in rows})} tasks, "
               f"{len({(r['task'], r['metric']) for r in rows})} task metrics")
