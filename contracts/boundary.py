"""The command line's outer edge: whatever goes wrong reaches the user as one line.

`BoundaryGroup` is the class of the outermost click group of `emergent` and of its `passuntil` alias:
- a usage error (missing option, bad choice, extra argument, unknown command) becomes one line,
  `error: <what> (see `<command> --help`)`, exit status 2, instead of click's three (Usage/Try/Error);
- an error raised inside a library on a damaged or malformed file (json, yaml, safetensors, pickle)
  becomes `error: <kind>: <detail> ...`, exit status 1; `--debug` or EMERGENT_DEBUG=1 shows the traceback.
"""
from __future__ import annotations

import errno
import os
import shutil
from typing import IO, Any

import click

from contracts.errors import EmergentError, debugging


def library_errors() -> tuple[type[BaseException], ...]:
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


FULL_DISK = (errno.ENOSPC, errno.EDQUOT)


def full_disk_message(err: OSError) -> str:
    """One line for a full disk (or quota): the path, and what to do. Every writer publishes atomically, so
    nothing half-written is left to be trusted."""
    where = err.filename or "an output file"
    try:
        free = shutil.disk_usage(os.path.dirname(os.path.abspath(str(where))) if err.filename else ".").free
        room = f" ({free / (1 << 20):.1f} MiB free there)"
    except OSError:
        room = ""
    kind = "disk quota exceeded" if err.errno == errno.EDQUOT else "no space left on the device"
    return (f"{kind} writing {where}{room}; free space and re-run the same command (it resumes; `emergent train` "
            "with --resume)")


class OneLineUsageError(click.UsageError):
    """click's usage error, shown as one line with the help hint folded in."""

    def show(self, file: IO[Any] | None = None) -> None:
        message = " ".join(line.strip() for line in self.format_message().splitlines() if line.strip())
        message = message[:1].lower() + message[1:] if message[:2] != message[:2].upper() else message
        where = self.ctx.command_path if self.ctx is not None else ""
        hint = f" (see `{where} --help`)" if where else ""
        click.echo(f"error: {message.rstrip('.')}{hint}", file=file, err=True)


def _one_line(err: click.UsageError) -> click.UsageError:
    if isinstance(err, OneLineUsageError) or type(err).__name__ == "NoArgsIsHelpError":  # the help page is wanted
        return err
    return OneLineUsageError(err.format_message(), ctx=err.ctx)


class BoundaryGroup(click.Group):
    """The outermost group (see the module's docstring)."""

    def make_context(self, info_name, args, parent=None, **extra) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as err:
            if debugging():
                raise
            raise _one_line(err) from None

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.UsageError as err:
            if debugging():
                raise
            raise _one_line(err) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
            raise
        except OSError as err:
            if debugging() or err.errno not in FULL_DISK:
                raise
            raise EmergentError(full_disk_message(err)) from None
        except library_errors() as err:
            if debugging():
                raise
            detail = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise EmergentError(f"{type(err).__name__}: {detail} (a damaged or malformed input file; "
                                "rerun with `emergent --debug ...` or EMERGENT_DEBUG=1 for the traceback)") from None
