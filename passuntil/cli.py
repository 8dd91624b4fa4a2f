"""`passuntil` (also `emergent passuntil`): run PassUntil sampling, list tasks, summarise records.

This module declares the group; emergent/cli.py composes it with the other stages' groups and the
`passuntil` console script runs it alone. Errors are contracts.errors exceptions: one line, exit status 2.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from contracts.atomic import check_output_path
from contracts.boundary import BoundaryGroup
from contracts.devices import DEVICE_HELP, resolve_device
from contracts.provenance import suite_version
from contracts.errors import InputError, require_vllm
from contracts.run_dir import check_weights, read_checkpoint
from contracts.table import format_table
from passuntil.tasks import TASKS


@click.group("passuntil", cls=BoundaryGroup, short_help="PassUntil sampling (Hu et al. 2024): run, tasks, summarize.",
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(suite_version(), "--version", prog_name="passuntil", message="%(prog)s %(version)s")
def main() -> None:
    """PassUntil (Hu et al. 2024): sample each instance until it passes r times."""


def _parse_shard(text: str | None):
    if not text:
        return None
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise InputError(f"--shard must look like I/N (e.g. 0/4), got {text!r}") from None
    if not 0 <= i < n:
        raise InputError(f"--shard {text}: need 0 <= I < N")
    return i, n


def _model_params(model: str) -> int | None:
    """The checkpoint's parameter count when our trainer wrote it (the task law's N); None for a hub id."""
    if not (Path(model) / "config.json").is_file():
        return None
    return read_checkpoint(model).params


@main.command("run")
@click.option("--model", required=True, help="Checkpoint directory or hub id.")
@click.option("--task", "tasks", required=True, multiple=True,
              help="Task name (`passuntil tasks`), or NAME=DATA; repeat to sample several tasks with one model load.")
@click.option("--data", help="Task data: a BIG-bench task directory or a JSONL file (HumanEval: optional).")
@click.option("--backend", default="hf", type=click.Choice(["hf", "vllm"]), show_default=True,
              help="Sampler: hf (our batched sampler on transformers) or vllm.")
@click.option("--r", "r", default=2, show_default=True, help="Passes to wait for per instance.")
@click.option("--max-samples", default=100_000, show_default=True, help="Cap per instance (censored beyond).")
@click.option("--batch-size", default=64, show_default=True, help="Samples per backend call.")
@click.option("--chunk-size", default=16, show_default=True, help="Samples per instance per request (one seed each).")
@click.option("--temperature", default=1.0, show_default=True, help="Sampling temperature (Hu et al. sample at 1).")
@click.option("--top-p", default=1.0, show_default=True, help="Nucleus sampling mass (1: the full distribution).")
@click.option("--max-new-tokens", type=int, help="Default: the task's.")
@click.option("--limit", type=int, help="First N instances only.")
@click.option("--shard", help="I/N: this job's share of the instances (merge with `passuntil summarize`).")
@click.option("--seed", default=0, show_default=True, help="Seed of the sampling (and of few-shot selection).")
@click.option("--time-limit", default=10.0, show_default=True, help="Seconds per sandboxed code check.")
@click.option("--shots", default=4, show_default=True, help="In-context examples (unnatural_icl).")
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
@click.option("--dtype", default="auto", show_default=True, type=click.Choice(["auto", "float32", "bfloat16", "float16"]),
              help="Weights' dtype (auto: float32 on CPU, bfloat16 on GPU).")
@click.option("--tensor-parallel-size", default=1, show_default=True, help="GPUs per model (vllm backend).")
@click.option("--gpu-memory-utilization", type=float, help="vLLM memory share (default 0.9 on GPU, 0.2 of host memory on CPU).")
@click.option("--params", "params_override", type=int, help="Model size N to record (default: from the checkpoint).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="JSONL to append to; re-running resumes.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("--verify", is_flag=True,
              help="Hash every checkpoint file against its recorded SHA-256 before sampling (default: sizes, and a "
                   "hash where the file's mtime moved).")
@click.option("--allow-unisolated", is_flag=True,
              help="Run generated code without OS isolation (no bubblewrap/user namespaces): weak, never the default.")
@click.option("--allow-no-cgroup", is_flag=True,
              help="Run code checks without a memory cgroup (per-process limits only; kernel memory unbounded).")
def run_command(model, tasks, data, backend, r, max_samples, batch_size, chunk_size, temperature, top_p, max_new_tokens,
                limit, shard, seed, time_limit, shots, device, dtype, tensor_parallel_size, gpu_memory_utilization, params_override, out,
                no_progress, verify, allow_unisolated, allow_no_cgroup):
    """Sample every instance of TASK until r passes or --max-samples, writing one record per instance."""
    from passuntil.backends.factory import make_backend
    from passuntil.scheduler import Settings, run
    from passuntil.tasks import load_task
    from contracts.provenance import provenance

    settings = Settings(r=r, max_samples=max_samples, batch_size=batch_size, chunk_size=chunk_size,
                        temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed, time_limit=time_limit)
    try:
        settings.validate()
    except ValueError as err:
        raise InputError(str(err)) from None
    if limit is not None and limit <= 0:
        raise InputError(f"--limit must be a positive number of instances, got {limit}")
    if not time_limit > 0 or time_limit != time_limit or time_limit == float("inf"):
        raise InputError(f"--time-limit must be a positive number of seconds, got {time_limit}")
    check_output_path(out)
    shard_spec = _parse_shard(shard)
    loaded = []
    for spec in tasks:  # every task is checked before the model is loaded
        name, _, task_data = spec.partition("=")
        loaded.append(load_task(name, task_data or data, shots=shots, seed=seed))
    if any(inst.checker == "code" for task in loaded for inst in task.instances):
        from passuntil import isolation

        from passuntil.sandbox import allow_no_cgroup as _allow_no_cgroup, memory_bound, require_memory_bound
        from passuntil.scheduler import CHECK_THREADS

        if allow_unisolated:
            isolation.allow_unisolated(True)
        if allow_no_cgroup:
            _allow_no_cgroup(True)
        click.echo(f"sandbox: {isolation.require().describe()}")  # refuses the weak level unless allowed
        require_memory_bound()
        click.echo(f"sandbox {memory_bound(settings.limits, CHECK_THREADS)}")
    if backend == "vllm":
        require_vllm()
    if (Path(model) / "config.json").is_file():
        check_weights(model, full=verify)
    try:
        engine = make_backend(backend, model, device=resolve_device(device), tensor_parallel_size=tensor_parallel_size, dtype=dtype,
                              memory_utilization=gpu_memory_utilization)
    except OSError as err:  # no such checkpoint directory or hub id: the user's to fix
        raise InputError(f"--model {model} cannot be loaded: {str(err).splitlines()[0]}") from None
    prov = provenance()
    params = params_override or _model_params(model)
    for task in loaded:
        records = run(task, engine, settings, out, model_name=str(model), params=params,
                      shard=shard_spec, limit=limit, progress=not no_progress,
                      provenance={"versions": prov["versions"], "git_revision": prov["git_revision"]}, log=click.echo)
        click.echo(f"{len(records)} instance(s) of {task.name} written to {out}")


@main.command("tasks")
def tasks_command():
    """List the tasks."""
    click.echo(format_table(["task", "what it samples"], list(TASKS.items()), align="ll", rule=False))


@main.command("summarize")
@click.argument("files", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--drop-invalid", is_flag=True,
              help="Ignore lines that are not valid records (counted by reason on stderr) instead of stopping.")
def summarize_command(files, as_json, drop_invalid):
    """Per task and model: mean PU with a bootstrap interval, pooled passes/samples, censored count (merges shards)."""
    from passuntil.estimators import estimate_task
    from contracts.records import read_records

    # By default a line that breaks the contract stops here (file:line, the count by reason); never a number from it.
    found = read_records(files, strict=not drop_invalid,
                         fix="fix or remove those lines, or rerun with --drop-invalid to ignore them")
    if found.dropped:
        click.echo(f"warning: {found.ignored()}", err=True)
    if not found.records:
        raise InputError(f"no valid PassUntil record in {', '.join(files)}")
    merged: dict[tuple, dict] = {}
    for rec in found.records:
        merged[(rec["task"], rec["model"], rec["instance_id"])] = rec  # a shard re-run replaces, never doubles
    groups: dict[tuple, list[dict]] = {}
    for (task, model, _), rec in merged.items():
        groups.setdefault((task, model), []).append(rec)
    rows = []
    for (task, model), recs in sorted(groups.items()):
        try:
            est = estimate_task(recs)
        except ValueError as err:  # e.g. records of an older passuntil without the unbiased estimate
            raise InputError(f"{task} of {model}: {err}") from None
        row = {"task": task, "model": model, "params": recs[0].get("params"), "instances": est.instances,
               "censored": est.censored, "mean_pu": est.mean_pu, "ci_low": est.ci_low, "ci_high": est.ci_high,
               "pooled_pu": est.pooled_pu, "passes": est.pooled_passes, "samples": est.pooled_samples,
               "estimator": est.estimator, "upper_bound_only": est.pooled_passes == 0}
        if row["upper_bound_only"]:  # no pass anywhere: the bootstrap's [0, 0] says nothing; bound the mean instead
            row["ci_high"] = zero_pass_upper_bound([rec["samples"] for rec in recs])
        rows.append(row)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(format_table(
        ["task", "model", "inst", "cens", "mean PU", "95% CI", "pooled", "samples"],
        [[row["task"][:28], str(row["model"])[-40:], row["instances"], row["censored"],
          f"< {row['ci_high']:.3g}" if row["upper_bound_only"] else f"{row['mean_pu']:.3g}",
          f"[{row['ci_low']:.3g}, {row['ci_high']:.3g}]", f"{row['pooled_pu']:.3g}", f"{row['samples']:,}"]
         for row in rows], align="llrrrrrr"))
    if any(row["upper_bound_only"] for row in rows):
        click.echo("< u: no instance passed; u is the 95% CI's upper end for the mean PU (raise --max-samples to "
                   "resolve it)")


def zero_pass_upper_bound(samples: list[int], alpha: float = 0.05) -> float:
    """Upper end of the (1 - alpha) interval for the mean PU of n instances none of which passed in its
    K_i samples. P(no pass) = prod (1 - p_i)^K_i <= (1 - mean p)^(n min K) (AM-GM), so the exact zero-count
    bound on n * min K pooled samples holds for the mean even when the instances differ."""
    return 1.0 - (alpha / 2) ** (1.0 / (len(samples) * min(samples)))
