"""`emergent eval`: lm-eval over every checkpoint of one or more runs, appended to the tidy eval table.

The table (contracts/eval_table.py) has one row per (checkpoint, task, metric) with the metric's random
baseline, its direction as lm-eval declares it, the --limit, the shots, the task and lm-eval versions.
Next to it, in <table stem>_lm_eval/<run>__<checkpoint>/, lm-eval's own outputs are kept in its own
layout (EvaluationTracker): results_<date>.json (aggregated) and samples_<task>_<date>.jsonl (every item).
Generative tasks' `*_nll` companions also get `gold_nll_per_token`: the per-item gold NLL divided by the
number of tokens the checkpoint's own tokenizer gives the answer (lm-eval's context/continuation split),
which only this command can compute; `lm_eval` alone reports the tokenizer-free `gold_nll_per_byte`.
Checkpoints whose rows for a task (under the same --limit) are already in the table are skipped, so the
command resumes; a full run does not count limited rows as done. Tasks reached through a group whose
data is absent are skipped with one warning each; a task named on its own must have its data.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

from contracts.crash_points import crash_point
from contracts.eval_table import append_eval_rows, limit_label, read_eval_table
from contracts.lm_eval_results import metric_rows, shots, task_baselines
from contracts.locks import OutputLock
from contracts.run_dir import CheckpointRef, resolve_targets

PER_TOKEN = "gold_nll_per_token"


def check_task_names(names: list[str], known: dict[str, Path] | None = None) -> None:
    """A one-line error naming the close matches of every name the suite does not declare (milliseconds);
    `known` is preflight.declared() when the caller already has it."""
    from lm_eval_tasks.preflight import declared, unknown_names

    known = declared() if known is None else known
    problem = unknown_names(names, known)  # names that look like ours: the close matches
    others = [n for n in names if n not in known and not n.startswith(("es_", "emergent_"))]
    if problem is None and others:  # `emergent eval` runs the suite's tasks only
        groups = ", ".join(sorted(n for n in known if not n.startswith("es_")))
        problem = (f"unknown task {', '.join(repr(n) for n in others)}: `emergent eval` runs the suite's tasks "
                   f"(groups {groups}; tasks es_*); use `lm_eval` itself for lm-eval's own tasks")
    if problem:
        raise ValueError(problem)


def task_manager():
    from lm_eval.tasks import TaskManager

    from lm_eval_tasks import TASK_DIR

    return TaskManager(include_path=str(TASK_DIR), include_defaults=False)


def expand_tasks(manager, names: list[str]) -> list[str]:
    """Group names expand (recursively) to their tasks, in order, without duplicates."""
    return [t for t, _ in select_tasks(manager, names)]


def select_tasks(manager, names: list[str], via_group: bool = False) -> list[tuple[str, bool]]:
    """(task, reached through a group) for every task the names stand for, in order, without duplicates;
    a task both named and reached through a group counts as named."""
    out: dict[str, bool] = {}
    for name in names:
        entry = manager.task_index.get(name)
        if entry is None:
            raise ValueError(f"unknown task {name!r}; `lm_eval ls tasks` lists them (ours start with es_ or emergent_suite)")
        if entry.kind.name == "GROUP":
            members = (entry.cfg or {}).get("task") or []
            for task, _ in select_tasks(manager, [m if isinstance(m, str) else m["task"] for m in members], True):
                out.setdefault(task, True)
        else:
            out[name] = out.get(name, True) and via_group
    return list(out.items())


def available_tasks(manager, selected: list[tuple[str, bool]], log=print) -> list[str]:
    """The selected tasks whose data loads. One reached through a group whose data is missing is left out
    with one warning line, as lm-eval's groups do (suite_task.py); a task named on its own must load."""
    from lm_eval_tasks.sources import DatasetMissing
    from lm_eval_tasks.suite_task import skip_message

    out = []
    for task, via_group in selected:
        if via_group:
            try:
                manager.load([task])
            except DatasetMissing as err:
                log(f"warning: {skip_message(task, err)}")
                continue
        out.append(task)
    return out


def row_base(ref: CheckpointRef, task: str, out: dict, limit) -> dict:
    from importlib.metadata import version

    return {"run": ref.run, "checkpoint": ref.checkpoint, "step": ref.step, "params": ref.params, "tokens": ref.tokens,
            "loss": ref.loss, "task": task, "limit": limit_label(limit), "num_fewshot": shots(out, task),
            "task_version": out.get("versions", {}).get(task, ""), "lm_eval_version": version("lm_eval")}


def results_to_rows(ref: CheckpointRef, out: dict, tasks: list[str], limit=None, baselines: dict | None = None) -> list[dict]:
    """One row per (task, metric[/filter]) of lm-eval's aggregated output (contracts.lm_eval_results), with the
    checkpoint's run, step, size and loss, and each metric's random baseline (contracts.lm_eval_results.task_baselines)."""
    return [{**row_base(ref, m["task"], out, limit), **m} for m in metric_rows(out, tasks, baselines)]


def sample_ll(sample: dict) -> float:
    """The log-likelihood of a one-request loglikelihood sample ((ll, is_greedy) after lm-eval's filter)."""
    resp = sample["filtered_resps"][0]
    return float(resp[0] if isinstance(resp, (tuple, list)) else resp)


def per_token_rows(ref: CheckpointRef, lm, samples: dict[str, list[dict]], out: dict | None = None, limit=None) -> list[dict]:
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
        rows.append({**row_base(ref, task, out or {}, limit), "metric": PER_TOKEN, "value": mean, "stderr": stderr,
                     "random_baseline": "", "higher_is_better": False})
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


def outputs_dir(table: str | Path) -> Path:
    """Where lm-eval's own outputs go: <table stem>_lm_eval/ next to the table."""
    table = Path(table)
    return table.with_name(f"{table.stem}_lm_eval")


PENDING = ".pending"  # lm-eval's outputs of one checkpoint wait here until its rows are in the table


def save_lm_eval_outputs(table, ref: CheckpointRef, out: dict, samples: dict) -> Path:
    """lm-eval's aggregated results JSON and per-item samples, through its EvaluationTracker (its layout), into a
    pending folder; publish_outputs moves them into place once the checkpoint's rows are in the table."""
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.utils import sanitize_model_name

    pending = outputs_dir(table) / PENDING
    tracker = EvaluationTracker(output_path=str(pending))
    tracker.general_config_tracker.log_experiment_args(model_source="emergent eval", model_args=f"pretrained={ref.path}",
                                                       system_instruction=None, chat_template=None,
                                                       fewshot_as_multiturn=False)
    tracker.general_config_tracker.model_name_sanitized = sanitize_model_name(f"{ref.run}/{ref.checkpoint}")
    tracker.save_results_aggregated(results=dict(out), samples=samples)
    for task in out.get("configs", {}):
        if task in samples:
            tracker.save_results_samples(task_name=task, samples=samples[task])
    return pending / tracker.general_config_tracker.model_name_sanitized


def publish_outputs(table, pending: Path) -> Path:
    """Move one checkpoint's pending outputs into <table>_lm_eval/<name>/ (file by file: the folder may hold the
    outputs of earlier evaluations of other tasks)."""
    final = outputs_dir(table) / pending.name
    final.mkdir(parents=True, exist_ok=True)
    for path in sorted(pending.iterdir()):
        os.replace(path, final / path.name)
    pending.rmdir()
    return final


def _pending_tasks(pending: Path) -> set:
    """The tasks whose results a pending folder holds (the configs of its results_*.json; none readable: empty)."""
    tasks: set = set()
    for path in pending.glob("results_*.json"):
        try:
            tasks |= set(json.loads(path.read_text()).get("configs", {}))  # tasks only (results also holds groups)
        except (OSError, ValueError, AttributeError):
            return set()
    return tasks


def settle_pending(table, done: set, log) -> None:
    """What a killed eval left pending: published where the table holds the checkpoint (killed after its append),
    removed where it does not (it is evaluated again), so a re-run never adds a second set."""
    import shutil

    root = outputs_dir(table) / PENDING
    if not root.is_dir():
        return
    from lm_eval.utils import sanitize_model_name

    tasks_in_table: dict[str, set] = {}
    for run, checkpoint, task in done:
        tasks_in_table.setdefault(sanitize_model_name(f"{run}/{checkpoint}"), set()).add(task)
    for pending in sorted(p for p in root.iterdir() if p.is_dir()):
        if _pending_tasks(pending) <= tasks_in_table.get(pending.name, set()) and _pending_tasks(pending):
            log(f"    lm-eval outputs of {pending.name} were left pending by a killed run; published")
            publish_outputs(table, pending)
        else:
            shutil.rmtree(pending)
    shutil.rmtree(root, ignore_errors=True)


def evaluate(targets, tasks: list[str], table: str | Path, backend: str = "hf", batch_size: int | str = 8,
             limit: float | None = None, device: str = "cpu", model_args: str = "", log=print) -> int:
    """Evaluate every checkpoint not yet in `table` (under this limit); returns the number of rows appended."""
    refs = resolve_targets(targets)
    manager = task_manager()
    wanted = available_tasks(manager, select_tasks(manager, tasks), log=log)
    if not wanted:
        raise ValueError(f"no task of {', '.join(tasks)} has its data (see the warnings above for how to supply it)")
    with OutputLock(table, log=log):  # one writer per table: a second eval is refused, and no append is lost
        return _evaluate_all(refs, wanted, manager, table, backend, batch_size, limit, device, model_args, log)


def _evaluate_all(refs, wanted, manager, table, backend, batch_size, limit, device, model_args, log) -> int:
    import lm_eval

    mine = limit_label(limit)
    done = {(r["run"], r["checkpoint"], r["task"]) for r in read_eval_table(table, missing_ok=True) if r["limit"] == mine}
    settle_pending(table, done, log)
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
        samples = out.pop("samples", {})
        rows = results_to_rows(ref, out, todo, limit, task_baselines(samples))
        rows += per_token_rows(ref, lm, {t: samples[t] for t in todo if t in samples}, out, limit)
        del lm  # one model in memory at a time
        pending = save_lm_eval_outputs(table, ref, out, samples)  # pending until the table marks the checkpoint done
        crash_point("eval:before-append")
        append_eval_rows(table, rows, warn=log)  # after every checkpoint: a kill loses at most the one in progress
        crash_point("eval:before-publish")
        where = publish_outputs(table, pending)
        log(f"    lm-eval results and samples: {where}")
        added += len(rows)
    return added
