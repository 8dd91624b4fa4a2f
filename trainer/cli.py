"""The trainer's commands: `emergent train`, `emergent data prepare`, `emergent ladder plan|run`.

This module only declares the group; emergent/cli.py composes it with the other stages' groups.
Errors a user can fix are contracts.errors exceptions (click exceptions): one line, exit status 2.
"""
from __future__ import annotations

import functools

import click

from contracts.errors import DataError, RunDirError

MAX_VOCAB = 1 << 21  # 2M: beyond any tokenizer in use (the largest are ~256K); the BPE trainer aborts far above it


@click.group("trainer", context_settings={"help_option_names": ["-h", "--help"]})
def group() -> None:
    """Train models: data preparation, single runs and ladders."""


@group.command("train")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False), help="Run config YAML (TrainConfig).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run directory to create (or continue with --resume).")
@click.option("--data", "data_dir", type=click.Path(), help="Prepared data directory (overrides data_dir in the config).")
@click.option("--resume", is_flag=True, help="Continue from the latest complete checkpoint in --out.")
@click.option("--no-progress", is_flag=True, help="No progress bar (logs still go to metrics.jsonl).")
@click.option("--log", "log_to", multiple=True, type=click.Choice(["tensorboard", "wandb"]),
              help="Also log to TensorBoard or W&B (optional extras; metrics.jsonl is always written). Repeatable.")
def train_command(config_path, out, data_dir, resume, no_progress, log_to):
    """Train one run (any number of processes: wrap in torchrun for DDP/FSDP)."""
    from pathlib import Path

    from contracts.atomic import check_output_path
    from trainer.config import TrainConfig
    from trainer.memory import check_fits_memory
    from trainer.data import load_manifest

    check_output_path(out)
    cfg = TrainConfig.from_yaml(config_path)
    if data_dir:
        cfg.data_dir = data_dir
        cfg.validate()
    if log_to:
        cfg.log_to = sorted(set(cfg.log_to) | set(log_to))
    if resume and not (Path(out) / "config.yaml").is_file():
        raise RunDirError(f"--resume: {out} holds no run (no config.yaml), so there is nothing to resume; "
                          "drop --resume to start a new run there")
    check_fits_memory(cfg)
    load_manifest(cfg.data_dir)  # the data is checked before the run directory is created

    from trainer.loop import train

    summary = train(cfg, out, resume=resume, progress=not no_progress)
    click.echo(f"trained {summary['steps']} steps, {summary['tokens']:,} tokens; last checkpoint {summary['last_checkpoint']}")


@group.group("data")
def data_group():
    """Prepare tokenizers and token shards."""


@data_group.command("prepare")
@click.argument("inputs", nargs=-1)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Directory for the token shards and tokenizer.")
@click.option("--vocab-size", default=8192, show_default=True, type=click.IntRange(min=2, max=MAX_VOCAB),
              help="BPE vocabulary to train (ignored with --tokenizer).")
@click.option("--tokenizer", "tokenizer_dir", type=click.Path(), help="Use an existing Hugging Face tokenizer directory.")
@click.option("--val-fraction", default=0.01, show_default=True, type=click.FloatRange(0, 1, min_open=True, max_open=True),
              help="Share of documents held out for validation loss.")
@click.option("--seed", default=1234, show_default=True, help="Seed of the train/validation split.")
@click.option("--text-field", default="text", show_default=True, help="Field holding the text in JSONL/parquet.")
@click.option("--dtype", default="auto", type=click.Choice(["auto", "uint16", "uint32"]), show_default=True,
              help="Token id width on disk; auto: uint16 when the vocabulary fits.")
@click.option("--default-corpus", is_flag=True, help="Use the embedded default corpus as input.")
def data_prepare_command(inputs, out, vocab_size, tokenizer_dir, val_fraction, seed, text_field, dtype, default_corpus):
    """Train a byte-level BPE tokenizer on INPUTS and write token shards plus a validation shard."""
    from pathlib import Path

    from trainer.data_prepare import prepare

    from contracts.atomic import check_output_path

    check_output_path(out)
    inputs = list(inputs)
    if default_corpus:
        from trainer.corpus import build_default_corpus

        inputs.append(str(build_default_corpus(Path(out).parent / f".{Path(out).name}.corpus")))
    if not inputs:
        raise DataError("give input files or directories, or --default-corpus")
    manifest = prepare(inputs, out, vocab_size=vocab_size, tokenizer_dir=tokenizer_dir, val_fraction=val_fraction,
                       seed=seed, text_field=text_field, dtype=dtype)
    click.echo(f"{out}: vocab {manifest['vocab_size']}, {manifest['train_tokens']:,} train tokens in "
               f"{len(manifest['train'])} shard(s), {manifest['val']['tokens']:,} validation tokens ({manifest['dtype']})")


@group.group("ladder")
def ladder_group():
    """Plan and train a ladder of model sizes and token budgets."""


@ladder_group.command("plan")
@click.argument("spec")
@click.option("--vocab-size", type=click.IntRange(min=2), help="Override the spec's planning vocabulary.")
@click.option("--time-here", is_flag=True,
              help="Time a matmul on this machine (needs torch) to fill the 'est. here' column.")
@click.option("--matmul-gflops", type=click.FloatRange(min=0, min_open=True),
              help="This machine's matmul rate in GFLOP/s, for 'est. here' without timing it.")
def ladder_plan_command(spec, vocab_size, time_here, matmul_gflops):
    """Print the plan of SPEC (a name from trainer/specs or a YAML path) without training."""
    from trainer.ladder import load_spec, plan, plan_table

    rate = matmul_gflops * 1e9 if matmul_gflops else None
    if time_here and rate is None:
        from trainer.ladder import measure_matmul_flops

        rate = measure_matmul_flops()
    from trainer.ladder import absurd_plan_warning

    runs = plan(load_spec(spec), vocab_size=vocab_size)
    click.echo(plan_table(runs, matmul_flops=rate))
    from trainer.ladder import plan_limits

    limits = plan_limits(runs, rate)  # memory and a year of compute: what `ladder run` refuses
    for warning in limits or [w for w in (absurd_plan_warning(runs),) if w]:
        click.echo(f"warning: {warning}", err=True)
    if limits:
        click.echo("warning: `ladder run` refuses this plan unless given --allow-huge", err=True)


@ladder_group.command("run")
@click.argument("spec")
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Ladder directory: one run directory per rung (re-running resumes).")
@click.option("--data", "data_dir", type=click.Path(), help="Prepared data (default: the embedded corpus, prepared into OUT/data).")
@click.option("--only", multiple=True, help="Train only these runs or rungs (repeatable); one job per rung on a cluster.")
@click.option("--no-progress", is_flag=True, help="No progress bars (logs still go to each run's metrics.jsonl).")
@click.option("--allow-huge", is_flag=True, help="Start a plan that needs over a year here, or more memory than here.")
def ladder_run_command(spec, out, data_dir, only, no_progress, allow_huge):
    """Train every run of SPEC one after another; finished runs are skipped, interrupted ones resumed."""
    from trainer.ladder import load_spec, run_ladder

    run_ladder(load_spec(spec), out, data_dir=data_dir, only=list(only) or None, progress=not no_progress,
               log=functools.partial(click.echo, err=False), allow_huge=allow_huge)
