"""`emergent study --preset tiny --out DIR` (and --dry-run for the GPU-scale presets)."""
from __future__ import annotations

import click


@click.command("study")
@click.option("--preset", "preset_name", default="tiny", show_default=True,
              type=click.Choice(["smoke", "tiny", "du2024", "hu2024"]))
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--dry-run", is_flag=True, help="Print the plan, FLOPs and commands; run nothing.")
@click.option("--bigbench", default="BIG-bench/bigbench/benchmark_tasks", show_default=True,
              help="With --dry-run: the BIG-bench task folder (emoji_movie/, date_understanding/) the commands read.")
def study_command(preset_name, out, bigbench, **kwargs):
    """The whole study: corpus, ladder, evaluation, PassUntil, fits, prediction before training, report."""
    from analysis.results import AnalysisError
    from study.pipeline import Study
    from study.presets import preset

    chosen = preset(preset_name)
    if kwargs.get("dry_run") or chosen["dry_run_only"]:
        if not kwargs.get("dry_run"):
            raise AnalysisError(f"preset {preset_name} is GPU-scale: add --dry-run to see its plan and commands")
        from study.dry_run import dry_run  # imports the trainer (torch): only when asked

        click.echo(dry_run(chosen, out, bigbench))
        return
    timings = Study(out, chosen, log=click.echo).run()
    width = max(len(k) for k in timings)
    click.echo("\nstage timings:")
    for stage, seconds in timings.items():
        click.echo(f"  {stage.ljust(width)}  {seconds:8.1f} s")
    click.echo(f"  {'total'.ljust(width)}  {sum(timings.values()):8.1f} s")
    click.echo(f"report: {out}/REPORT.md")
