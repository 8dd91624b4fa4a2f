"""Run many `emergent ...` command lines with one interpreter start: the package and its heavy imports
(torch, transformers) load once, then each command runs in a forked child with its own environment,
working directory and stderr file, exactly as `python -m emergent ARGV` would run it (an uncaught
exception prints its traceback and exits 1, as Python does).

Usage: python -m tests.bad_input_driver JOBS.json, where JOBS.json is a list of {argv, env, stderr, stdout,
program} (program: emergent, the passuntil alias or lm_eval; an env value null unsets the variable);
it writes each child's exit status to JOBS.json + ".status".
"""
from __future__ import annotations

import json
import os
import sys
import traceback


def _entry(program: str):
    """The console script `program` would run, called as it calls it."""
    if program == "lm_eval":  # lm-eval's own command line (the suite's checks come in through _autoload)
        from lm_eval.__main__ import cli_evaluate

        return lambda argv: (sys.argv.__setitem__(slice(None), ["lm_eval", *argv]), cli_evaluate())
    if program == "passuntil":  # the alias: the passuntil group alone
        from passuntil.cli import main as passuntil_main

        return lambda argv: passuntil_main(args=argv, prog_name="passuntil")
    from emergent.cli import main as emergent_main

    return lambda argv: emergent_main(args=argv, prog_name="emergent")


def _child(job: dict) -> None:
    for key, value in (job.get("env") or {}).items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    for fd, path in ((1, job["stdout"]), (2, job["stderr"])):
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(handle, fd)
        os.close(handle)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    code = 0
    try:
        _entry(job.get("program", "emergent"))(job["argv"])
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException:  # what the interpreter would print for an uncaught exception
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(jobs_path: str) -> None:
    import torch  # noqa: F401  (loaded once, before the forks)
    import transformers  # noqa: F401

    import emergent.cli  # noqa: F401
    import trainer.loop  # noqa: F401

    jobs = json.loads(open(jobs_path).read())
    codes = []
    for job in jobs:
        pid = os.fork()
        if pid == 0:
            _child(job)
        _, status = os.waitpid(pid, 0)
        codes.append(os.waitstatus_to_exitcode(status))
    with open(jobs_path + ".status", "w") as fh:
        json.dump(codes, fh)


if __name__ == "__main__":
    main(sys.argv[1])
