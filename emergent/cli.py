"""`emergent`: the umbrella command, composed from each stage's own click group.

Every stage declares its commands in its own package and imports no other stage; this module (and
only it) puts them together, so `emergent train|data|ladder` (trainer), `emergent eval` (the suite),
`emergent passuntil ...` (also the `passuntil` script), `emergent fit|predict` (analysis) and
`emergent study` sit side by side. Errors are contracts.errors exceptions, which are click exceptions:
one line on stderr, exit status 2 for wrong input (click's usage status) and 1 for a runtime failure; click's own
usage errors and library errors on damaged files are made one line too (contracts/boundary.py).
"""
from __future__ import annotations

import os

import click

from contracts.boundary import BoundaryGroup
from contracts.provenance import suite_version

from analysis.cli import backtest_group, convert_group, fit_group, predict_command
from lm_eval_tasks.cli import eval_command
from passuntil.cli import main as passuntil_group
from study.cli import study_command
from trainer.cli import group as trainer_group


@click.group("emergent", cls=BoundaryGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(suite_version(), "--version", prog_name="emergent", message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, help="Show Python tracebacks for errors (also EMERGENT_DEBUG=1).")
def main(debug: bool) -> None:
    """Study and predict emergent abilities of language models from the loss perspective."""
    if debug:
        os.environ["EMERGENT_DEBUG"] = "1"


for _command in (*trainer_group.commands.values(), eval_command, passuntil_group, fit_group, backtest_group, predict_command,
                 convert_group, study_command):
    main.add_command(_command)

if __name__ == "__main__":
    main()
