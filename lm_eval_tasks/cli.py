"""The suite's command: `emergent eval` (lm-eval over every checkpoint of run directories).

emergent/cli.py composes it with the other stages' commands; this module imports no other stage.
"""
from __future__ import annotations

import os

import click

from contracts.errors import InputError
from contracts.devices import DEVICE_HELP, resolve_device


class BatchSize(click.ParamType):
    """lm-eval's batch size: a positive integer, 'auto', or 'auto:N' (N re-detections)."""

    name = "batch_size"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        text = str(value).strip()
        if text.isdigit() and int(text) > 0:
            return int(text)
        if text == "auto" or (text.startswith("auto:") and text[5:].isdigit()):
            return text
        self.fail(f"{value!r} is not a positive integer, 'auto' or 'auto:N'", param, ctx)


@click.command("eval")
@click.argument("targets", nargs=-1, required=True)
@click.option("--tasks", required=True, help="Comma-separated tasks or groups, e.g. emergent_suite or es_mmlu,es_gsm8k.")
@click.option("--table", required=True, type=click.Path(dir_okay=False), help="Eval table (CSV) to append to.")
@click.option("--backend", default="hf", type=click.Choice(["hf", "vllm"]), show_default=True,
              help="lm-eval model type: hf (transformers) or vllm.")
@click.option("--batch-size", default="8", type=BatchSize(), show_default=True, help="A positive integer, auto or auto:N.")
@click.option("--limit", type=click.FloatRange(min=0, min_open=True), help="Items per task (for quick looks; not for the study).")
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
@click.option("--model-args", default="", help="Extra lm-eval model_args, e.g. tensor_parallel_size=2.")
@click.option("--verify", is_flag=True,
              help="Hash every checkpoint file against its recorded SHA-256 before evaluating (default: sizes, and a "
                   "hash where the file's mtime moved; a full hash reads every byte, minutes for GB checkpoints).")
def eval_command(targets, tasks, table, backend, batch_size, limit, device, model_args, verify):
    """Evaluate every checkpoint of TARGETS (run or checkpoint directories) with lm-eval."""
    from contracts.atomic import check_output_path, clean_stale_temporaries
    from contracts.errors import require_vllm
    from contracts.run_dir import check_weights, resolve_targets

    from lm_eval_tasks.evaluate import check_task_names
    from lm_eval_tasks.preflight import declared

    names = [t.strip() for t in tasks.split(",") if t.strip()]
    known = declared()  # the suite's YAMLs, read once for both checks below
    try:  # first: a misspelt task costs milliseconds, not a model load or an index
        check_task_names(names, known)
    except ValueError as err:
        raise InputError(f"--tasks: {err}") from None
    check_output_path(table, "--table")
    suite_data = os.environ.get("EMERGENT_SUITE_DATA")
    if suite_data and not os.path.isdir(suite_data):
        raise InputError(f"EMERGENT_SUITE_DATA={suite_data} is not a directory; point it at DIR/<task>/<split>.jsonl "
                         "or unset it")
    if backend == "vllm":
        require_vllm()
    refs = resolve_targets(targets)  # every target is checked before lm-eval is imported or a table touched
    for ref in refs:
        check_weights(ref.path, full=verify)
    from lm_eval_tasks.preflight import PreflightError, check_run

    try:  # the data (and the hub, offline mode when it cannot be reached) before any model loads
        check_run(names, log=lambda line: click.echo(line, err=True), names=known)
    except PreflightError as err:
        raise InputError(str(err)) from None

    from pathlib import Path

    clean_stale_temporaries(Path(table).parent, Path(table).name)  # of a killed earlier run
    from lm_eval_tasks.evaluate import evaluate
    from lm_eval_tasks.sources import DatasetMissing

    try:
        added = evaluate(targets, names, table, backend=backend,
                         batch_size=batch_size, limit=limit, device=resolve_device(device), model_args=model_args)
    except (ValueError, DatasetMissing) as err:
        if isinstance(err, click.ClickException):
            raise
        raise InputError(str(err)) from None
    click.echo(f"{added} rows appended to {table}")
