"""`emergent study --preset tiny --out DIR` (and --dry-run for the GPU-scale presets)."""
from __future__ import annotations

import click

from contracts.table import format_table


def dry_run(preset: dict, out: str) -> str:
    """The plan, FLOPs and the commands the study would run on a cluster."""
    from trainer.ladder import plan, plan_table

    runs = plan(preset["spec"])
    lines = [plan_table(runs), "", "Commands (one job per rung; GPUs, torchrun, vLLM):"]
    lines.append(f"emergent data prepare CORPUS/ --out {out}/data --vocab-size {preset['spec'].get('vocab_size')}")
    for r in runs:
        lines.append(f"torchrun --nproc_per_node 8 -m trainer ladder run {preset['spec']['name']} --out {out} "
                     f"--data {out}/data --only {r.name}")
    lines.append(f"emergent eval {out}/runs/* --tasks emergent_suite --table {out}/eval.csv --backend vllm "
                 f"--model-args tensor_parallel_size=8")
    for r in runs:
        for task in ("humaneval", "emoji_movie", "date_understanding"):
            lines.append(f"passuntil run --backend vllm --tensor-parallel-size 8 --model {out}/runs/{r.name}/checkpoints/FINAL "
                         f"--task {task} --r 2 --max-samples 100000 --shard I/N --out {out}/passuntil/{task}.jsonl")
    lines.append(f"emergent predict --holdout largest --runs {out}/runs/* --table {out}/eval.csv --records {out}/passuntil/*.jsonl")
    return "\n".join(lines)


@click.command("study")
@click.option("--preset", "preset_name", default="tiny", show_default=True,
              type=click.Choice(["smoke", "tiny", "du2024", "hu2024"]))
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--dry-run", is_flag=True, help="Print the plan, FLOPs and commands; run nothing.")
def study_command(preset_name, out, **kwargs):
    """The whole study: corpus, ladder, evaluation, PassUntil, fits, prediction before training, report."""
    from contracts.errors import InputError
    from study.pipeline import Study
    from study.presets import preset

    chosen = preset(preset_name)
    if kwargs.get("dry_run") or chosen["dry_run_only"]:
        if not kwargs.get("dry_run"):
            raise InputError(f"preset {preset_name} is GPU-scale: add --dry-run to see its plan and commands")
        click.echo(dry_run(chosen, out))
        return
    timings = Study(out, chosen, log=click.echo).run()
    rows = [[stage, f"{seconds:.1f} s"] for stage, seconds in [*timings.items(), ("total", sum(timings.values()))]]
    click.echo("\nstage timings:\n" + format_table(["stage", "seconds"], rows, rule=False))
    click.echo(f"report: {out}/REPORT.md")
