"""Errors a user can act on: one root, a click.ClickException, so any command prints them as one line.

click's exit codes: 2 for a usage error (the input is wrong: a config, a path, a column, a task file),
1 for a runtime failure (training diverged). Every stage raises these or its own subclass of them,
so the CLI needs no custom group that catches and translates exceptions.
"""
from __future__ import annotations

import os
import sys
import traceback
from typing import IO, Any

import click


def debugging() -> bool:
    """`emergent --debug` or EMERGENT_DEBUG=1: show tracebacks where errors are otherwise one line."""
    return os.environ.get("EMERGENT_DEBUG", "").strip() not in ("", "0")


class EmergentError(click.ClickException):
    """Root of every error a user can act on; the message names the problem and the fix."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        if debugging():  # where it came from
            traceback.print_exception(self, file=file or sys.stderr)
        click.echo(f"error: {self.format_message()}", file=file, err=True)

    def __str__(self) -> str:
        return self.message


class InputError(EmergentError, ValueError):
    """The user's input is wrong (click's usage exit status, 2). Also a ValueError, for older callers."""

    exit_code = 2


class ConfigError(InputError):
    pass


class DataError(InputError):
    pass


class RunDirError(InputError):
    pass


class RecordError(InputError):
    """A PassUntil record file that does not hold the contract's records."""


class TrainingDiverged(EmergentError):
    def __init__(self, step: int, loss: float, last_checkpoint: str | None):
        where = f"the last good checkpoint is {last_checkpoint}" if last_checkpoint else "no checkpoint was written yet"
        super().__init__(
            f"loss became {loss} at step {step}; training stopped and {where} "
            "(lower optim.lr, raise the warmup or check optim.weight_decay, then rerun with --resume)"
        )
        self.step = step


def require_vllm() -> None:
    """--backend vllm needs vLLM importable here; name how to get it instead of an ImportError deep inside."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        raise InputError("--backend vllm: vLLM is not installed in this environment; build its environment with "
                         "`make vllm-venv` (then run with .venv-vllm/bin/...) or install the extra: "
                         "pip install 'emergent-suite[vllm]'; or use --backend hf")
