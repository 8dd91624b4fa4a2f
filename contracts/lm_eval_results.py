"""lm-eval 0.4's aggregated results (`results_*.json`; `EvalResults` in lm_eval/result_schema.py) as metric rows.

Read by `emergent eval` (the results it just computed) and `emergent convert lm-eval` (any lab's output folders),
so both spell a row the same way. The schema: `results` maps every task and group to `{"alias", "sample_len",
"<metric>,<filter>": value, "<metric>_stderr,<filter>": stderr, ...}`; `higher_is_better`, `n-shot` and `versions`
are keyed by task; `config.limit` is the run's --limit; `lm_eval_version` the writer's version.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from contracts.errors import DataError


def finite_or_empty(value) -> float | str:
    """A finite number as is, anything else ("N/A" stderrs of bootstrap_iters=0, NaN, null) as ""."""
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return value if is_number and math.isfinite(value) else ""


def table_metric(metric: str, filter_name: str) -> str:
    """The eval table's name of an lm-eval metric under a filter: "acc" for the filter "none", else
    "exact_match/strict-match"."""
    return metric if filter_name == "none" else f"{metric}/{filter_name}"


def shots(out: dict, task: str):
    # MMLU and C-Eval write their 5 shots into the prompt (lm-eval's n-shot says 0); their metadata says so.
    meta = (out.get("configs", {}).get(task, {}) or {}).get("metadata") or {}
    if not isinstance(meta, dict):
        meta = {}
    return meta.get("shots_in_prompt", out.get("n-shot", {}).get(task, ""))


def metric_rows(out: dict, tasks: list[str] | None = None, baselines: dict | None = None) -> list[dict]:
    """One row per (task, metric[/filter]) with a finite value, for `tasks` (default: every task and group in
    `results`): task, metric ("acc" for the filter "none", else "exact_match/strict-match"), value, stderr,
    random_baseline (from `baselines` {task: {metric: value}}, else, in results files written before the
    baselines left lm-eval's metrics, the suite's `<metric>_random` entries, never rows of their own), higher_is_better (as lm-eval declares it, ""
    where it declares none), num_fewshot and task_version."""
    results = out.get("results") or {}
    rows = []
    for task in results if tasks is None else tasks:
        metrics = results.get(task)
        if not isinstance(metrics, dict):
            continue
        directions = out.get("higher_is_better", {}).get(task) or {}
        for key, value in metrics.items():
            if "," not in key or finite_or_empty(value) == "":
                continue  # alias, sample_len, sample_count; a NaN or "N/A" score is no measurement
            metric, filter_name = key.split(",", 1)
            if metric.endswith("_stderr") or metric.endswith("_random"):
                continue
            direction = directions.get(metric)
            name = table_metric(metric, filter_name)
            baseline = ((baselines or {}).get(task) or {}).get(name, metrics.get(f"{metric}_random,{filter_name}"))
            rows.append({"task": task, "metric": name,
                         "value": value, "stderr": finite_or_empty(metrics.get(f"{metric}_stderr,{filter_name}")),
                         "random_baseline": finite_or_empty(baseline),
                         "higher_is_better": "" if direction is None else bool(direction),
                         "num_fewshot": shots(out, task), "task_version": out.get("versions", {}).get(task, "")})
    return rows


def _one_in(n: int) -> float | None:
    return 1.0 / n if n > 1 else None


# metric -> its expected value under random guessing on an item of n choices (n: lm-eval's requests for the item,
# one per choice); None: no baseline (a one-request item has nothing to guess among). lm-eval's own acc, acc_norm
# and brier_score and this suite's correct_choice_prob follow these; exact match by guessing is 0.
RANDOM_BASELINE = {
    "acc": _one_in,
    "acc_norm": _one_in,
    "correct_choice_prob": _one_in,
    "brier_score": lambda n: 1.0 - 1.0 / n if n > 1 else None,
    "exact_match": lambda n: 0.0,
}


def task_baselines(samples: dict[str, list[dict]]) -> dict[str, dict[str, float]]:
    """{task: {metric: random baseline}} from the items lm-eval scored (its samples): RANDOM_BASELINE averaged over
    the items, each with its own number of choices, per filter ("exact_match/strict-match"). Not lm-eval metrics,
    so results_*.json and the leaderboard tools reading it hold only real scores."""
    baselines: dict[str, dict[str, float]] = {}
    for task, items in samples.items():
        values: dict[str, list[float]] = {}
        for item in items:
            choices = len(item.get("arguments") or ())
            filter_name = item.get("filter", "none")
            for metric in item.get("metrics") or ():
                rule = RANDOM_BASELINE.get(metric)
                value = rule(choices) if rule else None
                if value is not None:
                    values.setdefault(table_metric(metric, filter_name), []).append(value)
        if values:
            baselines[task] = {metric: sum(v) / len(v) for metric, v in values.items()}
    return baselines


def samples_baselines(results_path: str | Path) -> dict[str, dict[str, float]]:
    """task_baselines of the samples files lm-eval wrote beside a results file (`--log_samples`:
    samples_<task>_<date>.jsonl, the date of results_<date>.json); {} where there are none."""
    results_path = Path(results_path)
    stamp = results_path.stem[len("results_"):]
    samples: dict[str, list[dict]] = {}
    for path in sorted(results_path.parent.glob(f"samples_*_{stamp}.jsonl")):
        task = path.name[len("samples_"):-len(f"_{stamp}.jsonl")]
        items = []
        try:
            with open(path, encoding="utf-8") as fh:
                for line in fh:
                    item = json.loads(line) if line.strip() else None
                    if isinstance(item, dict):
                        items.append({k: item.get(k) for k in ("arguments", "metrics", "filter")})
        except (OSError, UnicodeDecodeError, ValueError):
            continue  # a damaged samples file gives no baseline; the scores come from the results file
        samples[task] = items
    return task_baselines(samples)


def read_results(path: str | Path) -> dict:
    """One results_*.json, checked to be lm-eval's aggregated output (a `results` mapping of task -> metrics)."""
    path = Path(path)
    try:
        out = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise DataError(f"{path} is not readable JSON ({type(err).__name__}: {str(err)[:80]}); "
                        "give lm-eval's results_*.json files") from None
    if not isinstance(out, dict) or not isinstance(out.get("results"), dict) or \
            not all(isinstance(v, dict) for v in out["results"].values()):
        raise DataError(f"{path} is not an lm-eval results file: it has no 'results' mapping of task -> metrics")
    return out
