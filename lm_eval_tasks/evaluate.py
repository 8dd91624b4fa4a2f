"""`emergent eval`: lm-eval over every checkpoint of one or more runs, appended to the tidy eval table.

The table (a CSV; contract in ../shared/DESIGN.md) has one row per (checkpoint, task, metric):
run, checkpoint, step, params, tokens, loss, task, metric, value, stderr, random_baseline.
`random_baseline` comes from the `<metric>_random` value the task reports next to each metric.
Checkpoints whose rows for a task are already in the table are skipped, so the command resumes.
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from trainer.atomic import write_text_atomic
from trainer.run_dir import CheckpointRef, resolve_targets

COLUMNS = ["run", "checkpoint", "step", "params", "tokens", "loss", "task", "metric", "value", "stderr", "random_baseline"]


def read_table(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if rows and list(rows[0]) != COLUMNS:
        raise ValueError(f"{path} is not an eval table (columns {list(rows[0])}, expected {COLUMNS})")
    return rows


def write_table(path: str | Path, rows: list[dict]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())


def task_manager():
    from lm_eval.tasks import TaskManager

    from lm_eval_tasks import TASK_DIR

    return TaskManager(include_path=str(TASK_DIR), include_defaults=False)


def expand_tasks(manager, names: list[str]) -> list[str]:
    """Group names expand (recursively) to their tasks, in order, without duplicates."""
    out: list[str] = []
    for name in names:
        entry = manager.task_index.get(name)
        if entry is None:
            raise ValueError(f"unknown task {name!r}; `lm_eval ls tasks` lists them (ours start with es_ or emergent_suite)")
        if entry.kind.name == "GROUP":
            members = (entry.cfg or {}).get("task") or []
            out.extend(t for t in expand_tasks(manager, [m if isinstance(m, str) else m["task"] for m in members]) if t not in out)
        elif name not in out:
            out.append(name)
    return out


def results_to_rows(ref: CheckpointRef, results: dict) -> list[dict]:
    rows = []
    for task, metrics in results.items():
        for key, value in metrics.items():
            if "," not in key or not isinstance(value, (int, float)):
                continue
            metric, filter_name = key.split(",", 1)
            if metric.endswith("_stderr") or metric.endswith("_random"):
                continue
            name = metric if filter_name == "none" else f"{metric}/{filter_name}"
            stderr = metrics.get(f"{metric}_stderr,{filter_name}")
            baseline = metrics.get(f"{metric}_random,{filter_name}")
            rows.append({
                "run": ref.run, "checkpoint": ref.checkpoint, "step": ref.step, "params": ref.params,
                "tokens": ref.tokens, "loss": ref.loss, "task": task, "metric": name, "value": value,
                "stderr": stderr if isinstance(stderr, (int, float)) and math.isfinite(stderr) else "",
                "random_baseline": baseline if isinstance(baseline, (int, float)) else "",
            })
    return rows


def evaluate(targets, tasks: list[str], table: str | Path, backend: str = "hf", batch_size: int | str = 8,
             limit: float | None = None, device: str = "cpu", model_args: str = "", log=print) -> int:
    """Evaluate every checkpoint not yet in `table`; returns the number of rows appended."""
    import lm_eval

    refs = resolve_targets(targets)
    manager = task_manager()
    wanted = expand_tasks(manager, tasks)
    existing = read_table(table)
    done = {(r["run"], r["checkpoint"], r["task"]) for r in existing}
    added = 0
    for i, ref in enumerate(refs, 1):
        todo = [t for t in wanted if (ref.run, ref.checkpoint, t) not in done]
        if not todo:
            log(f"[{i}/{len(refs)}] {ref.run}/{ref.checkpoint}: already in {table}")
            continue
        log(f"[{i}/{len(refs)}] {ref.run}/{ref.checkpoint} (loss {ref.loss}): {len(todo)} task(s)")
        args = f"pretrained={ref.path},dtype=float32" if backend == "hf" else f"pretrained={ref.path}"
        if model_args:
            args += "," + model_args
        out = lm_eval.simple_evaluate(model=backend, model_args=args, tasks=todo, task_manager=manager, limit=limit,
                                      batch_size=batch_size, device=device, log_samples=False, bootstrap_iters=1000)
        rows = results_to_rows(ref, {t: out["results"][t] for t in todo if t in out["results"]})
        existing.extend(rows)
        write_table(table, existing)  # after every checkpoint: a kill loses at most the one in progress
        added += len(rows)
    return added
