"""`emergent eval`: lm-eval over every checkpoint of one or more runs, appended to the tidy eval table.

The table (a CSV; contract in ../shared/DESIGN.md) has one row per (checkpoint, task, metric):
run, checkpoint, step, params, tokens, loss, task, metric, value, stderr, random_baseline.
`random_baseline` comes from the `<metric>_random` value the task reports next to each metric.
Generative tasks' `*_nll` companions also get `gold_nll_per_token`: the per-item gold NLL divided by the
number of tokens the checkpoint's own tokenizer gives the answer (lm-eval's context/continuation split),
which only this command can compute; `lm_eval` alone reports the tokenizer-free `gold_nll_per_byte`.
Checkpoints whose rows for a task are already in the table are skipped, so the command resumes.
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from contracts.atomic import write_text_atomic
from contracts.run_dir import CheckpointRef, resolve_targets

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


def sample_ll(sample: dict) -> float:
    """The log-likelihood of a one-request loglikelihood sample ((ll, is_greedy) after lm-eval's filter)."""
    resp = sample["filtered_resps"][0]
    return float(resp[0] if isinstance(resp, (tuple, list)) else resp)


def per_token_rows(ref: CheckpointRef, lm, samples: dict[str, list[dict]]) -> list[dict]:
    """gold_nll_per_token for every task whose items are one scored gold answer (the `*_nll` companions)."""
    rows = []
    for task, items in samples.items():
        if not items or "gold_nll_per_byte" not in items[0]["metrics"] or len(items[0]["arguments"]) != 1:
            continue
        values = []
        for item in items:
            context, continuation = item["arguments"][0][:2]
            n_tokens = len(lm._encode_pair(context, continuation)[1]) if context else len(lm.tok_encode(continuation))
            values.append(-sample_ll(item) / max(1, n_tokens))
        n = len(values)
        mean = sum(values) / n
        stderr = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n) if n > 1 else ""
        rows.append({"run": ref.run, "checkpoint": ref.checkpoint, "step": ref.step, "params": ref.params,
                     "tokens": ref.tokens, "loss": ref.loss, "task": task, "metric": "gold_nll_per_token",
                     "value": mean, "stderr": stderr, "random_baseline": ""})
    return rows


def load_model(backend: str, path: str, batch_size, device: str, model_args: str):
    """An lm-eval model object for one checkpoint (kept, unlike simple_evaluate's, to count tokens after)."""
    from lm_eval.api.registry import get_model

    if backend == "vllm":
        import torch

        from lm_eval_tasks.vllm_compat import import_lm_eval_vllm

        import_lm_eval_vllm()
        # On CPU vLLM's memory knob reserves host memory for the KV cache, most of which belongs to others;
        # fp32 keeps log-likelihoods comparable with the hf backend's.
        args = f"pretrained={path}" if torch.cuda.is_available() else f"pretrained={path},dtype=float32,gpu_memory_utilization=0.2"
    else:
        args = f"pretrained={path},dtype=float32"
    if model_args:
        args += "," + model_args  # later keys win, so users override the defaults above
    return get_model(backend).create_from_arg_string(args, {"batch_size": batch_size, "device": device})


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
        lm = load_model(backend, str(ref.path), batch_size, device, model_args)
        out = lm_eval.simple_evaluate(model=lm, tasks=todo, task_manager=manager, limit=limit,
                                      log_samples=True, bootstrap_iters=1000)
        rows = results_to_rows(ref, {t: out["results"][t] for t in todo if t in out["results"]})
        rows += per_token_rows(ref, lm, {t: out["samples"][t] for t in todo if t in out.get("samples", {})})
        del lm, out  # one model in memory at a time
        existing.extend(rows)
        write_table(table, existing)  # after every checkpoint: a kill loses at most the one in progress
        added += len(rows)
    return added
