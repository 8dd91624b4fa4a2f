"""Any lab's lm-eval outputs into the eval table: `emergent convert lm-eval DIR... [--losses FILE] --out table.csv`.

Each DIR is an lm-eval output folder (`--output_path`; lm-eval writes `<model_name_sanitized>/results_<date>.json`
below it) or a results file; folders are searched for `results_*.json` at any depth. Each results file is one
evaluation of one checkpoint. Its pre-training loss comes from, in order:
- a row of --losses (CSV with a header, or JSONL) whose `checkpoint` names it: the folder holding the results
  file, lm-eval's `model_name_sanitized`, or the model path (`pretrained=`) or its last component. Optional
  columns: `params`, `tokens`, `run` (checkpoints of one training run share it; default: the checkpoint itself)
  and `step`;
- else the checkpoint's own `config.json`, where it records one (this project's checkpoints do, under
  "emergent_suite"), when the model path is a local folder.
`params` falls back to the `model_num_parameters` lm-eval recorded. Rows: every task and group, every metric and
filter, with its stderr, few-shot count, task version, --limit and direction from lm-eval's own `higher_is_better`;
the random baseline of acc, acc_norm, brier_score and exact_match where lm-eval's samples files (`--log_samples`)
lie beside the results, from each item's number of choices.
A checkpoint evaluated in several files keeps, per task, the newest file's numbers.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from analysis.results import AnalysisError
from contracts.atomic import iter_jsonl
from contracts.eval_table import limit_label
from contracts.lm_eval_results import finite_or_empty, metric_rows, read_results, samples_baselines

LOSS_COLUMNS = ("checkpoint", "loss")
OPTIONAL_COLUMNS = ("params", "tokens", "run", "step")


@dataclass
class Evaluation:
    """One results file and the names its checkpoint may go by."""
    path: Path
    out: dict
    names: list[str] = field(default_factory=list)
    model_path: str | None = None


def results_files(targets) -> list[Path]:
    files = []
    for target in map(Path, targets):
        if target.is_file():
            found = [target]
        elif target.is_dir():
            found = sorted(target.rglob("results_*.json"))
        else:
            raise AnalysisError(f"{target} does not exist; give lm-eval output folders (--output_path) or results files")
        if not found:
            raise AnalysisError(f"{target} holds no results_*.json; is it an lm-eval --output_path folder?")
        files.extend(found)
    return list(dict.fromkeys(files))


def _model_path(out: dict) -> str | None:
    config = out.get("config") or {}
    args = config.get("model_args")
    if isinstance(args, dict) and args.get("pretrained"):
        return str(args["pretrained"])
    if isinstance(args, str):
        for part in args.split(","):
            key, _, value = part.partition("=")
            if key.strip() == "pretrained" and value.strip():
                return value.strip()
    name = out.get("model_name")
    if isinstance(name, str) and name:
        return name
    model = config.get("model")
    return model if isinstance(model, str) and ("/" in model or Path(model).is_dir()) else None


def evaluation(path: Path) -> Evaluation:
    out = read_results(path)
    model = _model_path(out)
    names = [path.parent.name, out.get("model_name_sanitized")]
    if model:
        names += [model, model.rstrip("/").split("/")[-1]]
    return Evaluation(path, out, [n for n in dict.fromkeys(names) if isinstance(n, str) and n], model)


def read_losses(path: str | Path) -> dict[str, dict]:
    """{checkpoint: {loss, params?, tokens?, run?, step?}} from a CSV with a header or a JSONL file."""
    path = Path(path)
    if not path.is_file():
        raise AnalysisError(f"--losses {path} does not exist; write a CSV `checkpoint,loss[,params,tokens,run,step]`")
    if path.suffix == ".jsonl":
        rows = list(iter_jsonl(path, strict=True))  # file:line on a line that is not a JSON object
    else:
        reader = csv.DictReader(path.read_text(encoding="utf-8").splitlines())
        missing = [c for c in LOSS_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise AnalysisError(f"{path} lacks the column(s) {', '.join(missing)}; its header must name "
                                "checkpoint,loss[,params,tokens,run,step]")
        rows = [(number, row) for number, row in enumerate(reader, 2)]
    losses: dict[str, dict] = {}
    for number, row in rows:
        name = str(row.get("checkpoint") or "").strip()
        if not name:
            raise AnalysisError(f"{path}:{number} has no checkpoint")
        entry = {"loss": _number(row.get("loss"), path, number, "loss", required=True)}
        for column in OPTIONAL_COLUMNS:
            value = row.get(column)
            if value not in (None, ""):
                entry[column] = str(value) if column == "run" else _number(value, path, number, column)
        if name in losses and losses[name] != entry:
            raise AnalysisError(f"{path}:{number} gives checkpoint {name!r} a second, different row")
        losses[name] = entry
    return losses


def _number(value, path, number, column, required=False):
    try:
        result = float(value)
    except (TypeError, ValueError):
        if value in (None, "") and not required:
            return ""
        raise AnalysisError(f"{path}:{number}: {column} {value!r} is not a number") from None
    if result != result or result in (float("inf"), float("-inf")):
        raise AnalysisError(f"{path}:{number}: {column} is {value}")
    return int(result) if column in ("params", "tokens", "step") and result == int(result) else result


def _checkpoint(ev: Evaluation, losses: dict[str, dict]) -> dict | None:
    """checkpoint, run, step, params, tokens and loss of one evaluation, or None where no loss is known."""
    matches = {name: losses[name] for name in ev.names if name in losses}
    if len({json.dumps(v, sort_keys=True) for v in matches.values()}) > 1:
        raise AnalysisError(f"{ev.path} matches several --losses rows ({', '.join(matches)}); give each checkpoint "
                            "one name")
    recorded_params = finite_or_empty((ev.out.get("config") or {}).get("model_num_parameters"))
    if matches:
        name, entry = next(iter(matches.items()))
        return {"checkpoint": name, "run": entry.get("run", name), "step": entry.get("step", ""),
                "params": entry.get("params", recorded_params), "tokens": entry.get("tokens", ""), "loss": entry["loss"]}
    if ev.model_path and (Path(ev.model_path) / "config.json").is_file():
        from contracts.run_dir import read_checkpoint

        ref = read_checkpoint(ev.model_path)
        if ref.loss is not None:
            return {"checkpoint": ref.checkpoint, "run": ref.run, "step": "" if ref.step is None else ref.step,
                    "params": recorded_params if ref.params is None else ref.params,
                    "tokens": "" if ref.tokens is None else ref.tokens, "loss": ref.loss}
    return None


def lm_eval_rows(targets, losses_path: str | Path | None = None, warn=None) -> list[dict]:
    """The eval table's rows for every results file under `targets` (see the module's docstring)."""
    losses = read_losses(losses_path) if losses_path else {}
    evaluations = [evaluation(path) for path in results_files(targets)]
    checkpoints = {ev.path: _checkpoint(ev, losses) for ev in evaluations}
    unknown = [ev for ev in evaluations if checkpoints[ev.path] is None]
    if unknown:
        folders = {ev.names[0]: ev.path.parent for ev in unknown}  # a checkpoint evaluated twice is named once
        names = "; ".join(f"{name} ({folder})" for name, folder in list(folders.items())[:3])
        more = f" and {len(folders) - 3} more" if len(folders) > 3 else ""
        raise AnalysisError(f"no pre-training loss for {len(folders)} evaluated checkpoint(s): {names}{more}; add a "
                            f"row `checkpoint,loss` for each to --losses (checkpoint: {unknown[0].names[0]!r} or the "
                            "model path)")
    newest: dict[tuple, list[dict]] = {}  # (run, checkpoint, task) -> rows of the newest file holding that task
    superseded = 0
    for ev in sorted(evaluations, key=lambda e: e.path.name):  # results_<ISO date>.json: names sort by time
        ckpt = checkpoints[ev.path]
        assert ckpt is not None  # every evaluation has its loss (checked above)
        lm_eval_version = ev.out.get("lm_eval_version") or ""
        limit = limit_label((ev.out.get("config") or {}).get("limit"))
        by_task: dict[str, list[dict]] = {}
        for m in metric_rows(ev.out, baselines=samples_baselines(ev.path)):
            by_task.setdefault(m["task"], []).append({**ckpt, **m, "limit": limit, "lm_eval_version": lm_eval_version})
        for task, rows in by_task.items():
            key = (ckpt["run"], ckpt["checkpoint"], task)
            superseded += len(newest.get(key, []))
            newest[key] = rows
    if superseded and warn:
        warn(f"note: {superseded} rows of older results files were replaced by newer results of the same "
             "checkpoint and task")
    rows = [row for group in newest.values() for row in group]
    if not rows:
        raise AnalysisError("the results files hold no finite metric values")
    return sorted(rows, key=lambda r: (r["run"], r["step"] if isinstance(r["step"], (int, float)) else -1,
                                       r["checkpoint"], r["task"], r["metric"]))
