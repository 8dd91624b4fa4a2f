"""`emergent study --preset tiny --out DIR` (and --dry-run for the GPU-scale presets)."""
from __future__ import annotations

import click

from contracts.table import format_table


@click.command("study")
@click.option("--preset", "preset_name", default="tiny", show_default=True,
              type=click.Choice(["smoke", "tiny", "du2024", "hu2024"]),
              help="smoke: a minute, for tests; tiny: the CPU default; du2024 and hu2024: the papers' ladders (GPUs).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Study folder (re-running resumes).")
@click.option("--seed", type=int, default=None,
              help="Seed of the whole study: world, data split, every run's initialisation and data order, "
                   "PassUntil sampling [default: the preset's spec seed, 1234]. Recorded in every artifact.")
@click.option("--dry-run", is_flag=True, help="Print the plan, FLOPs and commands; run nothing.")
@click.option("--bigbench", default="BIG-bench/bigbench/benchmark_tasks", show_default=True,
              help="With --dry-run: the BIG-bench task folder (emoji_movie/, date_understanding/) the commands read.")
def study_command(preset_name, out, bigbench, seed, **kwargs):
    """The whole study: corpus, ladder, evaluation, PassUntil, fits, prediction before training, report."""
    from contracts.errors import InputError
    from study.pipeline import Study
    from study.presets import preset

    chosen = preset(preset_name)
    if kwargs.get("dry_run") or chosen["dry_run_only"]:
        if not kwargs.get("dry_run"):
            raise InputError(f"preset {preset_name} is GPU-scale: add --dry-run to see its plan and commands")
        from study.dry_run import dry_run  # imports the trainer (torch): only when asked

        click.echo(dry_run(chosen, out, bigbench))
        return
    from contracts.atomic import check_output_path

    check_output_path(out)
    timings = Study(out, chosen, seed=seed, log=click.echo).run()
    rows = [[stage, f"{seconds:.1f} s"] for stage, seconds in [*timings.items(), ("total", sum(timings.values()))]]
    click.echo("\nstage timings:\n" + format_table(["stage", "seconds"], rows, rule=False))
    click.echo(f"report: {out}/REPORT.md")
