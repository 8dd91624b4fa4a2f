"""`emergent`: the umbrella command, composed from each stage's own click group.

Every stage declares its commands in its own package and imports no other stage; this module (and
only it) puts them together, so `emergent train|data|ladder` (trainer), `emergent eval` (the suite),
`emergent passuntil ...` (also the `passuntil` script), `emergent fit|predict` (analysis) and
`emergent study` sit side by side. Errors are contracts.errors exceptions, which are click exceptions:
one line on stderr, exit status 2 for wrong input (click's usage status) and 1 for a runtime failure.
"""
from __future__ import annotations

import os
from importlib import metadata

import click

from contracts.errors import EmergentError

from analysis.cli import convert_group, fit_group, predict_command
from lm_eval_tasks.cli import eval_command
from passuntil.cli import main as passuntil_group
from study.cli import study_command
from trainer.cli import group as trainer_group


def version() -> str:
    try:
        return metadata.version("emergent-suite")
    except metadata.PackageNotFoundError:
        return "unknown (source tree, not installed)"


def _library_errors() -> tuple[type[BaseException], ...]:
    """Errors raised inside libraries on damaged or malformed files: nothing in their traceback helps a user."""
    import json
    import pickle
    import zipfile

    kinds: list[type[BaseException]] = [json.JSONDecodeError, UnicodeDecodeError, pickle.UnpicklingError,
                                        zipfile.BadZipFile, EOFError, MemoryError]
    try:
        import yaml

        kinds.append(yaml.YAMLError)
    except ImportError:
        pass
    try:
        from safetensors import SafetensorError

        kinds.append(SafetensorError)
    except ImportError:
        pass
    return tuple(kinds)


def debugging() -> bool:
    return os.environ.get("EMERGENT_DEBUG", "").strip() not in ("", "0")


class BoundaryGroup(click.Group):
    """The outermost group: an error from a library reading a damaged file becomes the project's one line
    (with --debug or EMERGENT_DEBUG=1, the traceback is shown instead)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
            raise
        except _library_errors() as err:
            if debugging():
                raise
            detail = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise EmergentError(f"{type(err).__name__}: {detail} (a damaged or malformed input file; "
                                "rerun with `emergent --debug ...` for the traceback)") from None


@click.group("emergent", cls=BoundaryGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version(), "--version", prog_name="emergent", message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, help="Show Python tracebacks for errors (also EMERGENT_DEBUG=1).")
def main(debug: bool) -> None:
    """Study and predict emergent abilities of language models from the loss perspective."""
    if debug:
        os.environ["EMERGENT_DEBUG"] = "1"


for _command in (*trainer_group.commands.values(), eval_command, passuntil_group, fit_group, predict_command,
                 convert_group, study_command):
    main.add_command(_command)

if __name__ == "__main__":
    main()
