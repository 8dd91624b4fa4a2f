"""Checks the suite runs before lm-eval indexes its YAMLs or loads a model: names, data, model path, hub.

`lm_eval --tasks emergent_suite ...` spends 10-100 s indexing every lm-eval YAML and then loads the model
before any task touches its data, and with HF_HUB_OFFLINE unset and no network each hub request retries
for minutes; a misspelt task, an absent dataset or a wrong model path then ends in a long traceback.
`check_run` answers those in milliseconds from the suite's own files, with one line naming the fix:
- a name that looks like ours (es_*, emergent_*) but is not declared: the close matches;
- a task named on its own whose data is not there, or a group none of whose tasks has data: how to supply it;
- a model path that does not exist;
- the hub unreachable: offline mode is switched on for this process (one warning line), so lm-eval and
  `datasets` read the local cache at once instead of retrying, and a dataset absent from it is named.
lm_eval_tasks/_autoload.py runs it in front of lm-eval's `run` command; `emergent eval` runs it too.
"""
from __future__ import annotations

import importlib.util
import os
import re
import socket
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

from lm_eval_tasks import TASK_DIR

OURS = ("es_", "emergent_")
_TOP_KEY = r"^{key}:[ \t]*([A-Za-z0-9_.-]+)[ \t]*(?:#.*)?$"
_LOADER = re.compile(r"^custom_dataset:[ \t]*!function[ \t]+utils\.(\w+)", re.MULTILINE)
_OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")


class PreflightError(ValueError):
    """One line naming what is wrong and how to fix it."""


def declared() -> dict[str, Path]:
    """Every task and group the suite's YAMLs declare -> the YAML declaring it (a regex, no lm-eval import)."""
    out: dict[str, Path] = {}
    for path in sorted(TASK_DIR.rglob("*.yaml")):
        text = path.read_text("utf-8")
        for key in ("task", "group"):
            for match in re.finditer(_TOP_KEY.format(key=key), text, re.MULTILINE):
                out[match.group(1)] = path
    return out


def _members(path: Path) -> list[str]:
    import yaml

    body = yaml.safe_load(path.read_text("utf-8")) or {}
    return [m if isinstance(m, str) else str(m.get("task") or m.get("group")) for m in body.get("task") or []]


def expand(name: str, names: dict[str, Path]) -> list[str]:
    """A task -> [task]; a group -> its tasks (recursively)."""
    path = names[name]
    if re.search(_TOP_KEY.format(key="group"), path.read_text("utf-8"), re.MULTILINE):
        return [t for m in _members(path) if m in names for t in expand(m, names)]
    return [name]


def unknown_names(requested: list[str], names: dict[str, Path]) -> str | None:
    """The problem with names that look like the suite's but are not declared (close matches named)."""
    import difflib

    parts = []
    for name in requested:
        if name.startswith(OURS) and name not in names:
            close = difflib.get_close_matches(name, sorted(names), n=3, cutoff=0.6)
            parts.append(f"{name!r}" + (f" (did you mean {' or '.join(close)}?)" if close else ""))
    if not parts:
        return None
    groups = sorted(n for n in names if not n.startswith("es_"))
    return (f"unknown task {', '.join(parts)}; the suite's groups are {', '.join(groups)} and its tasks start with "
            "es_ (`lm_eval ls tasks` lists them)")


def _utils(folder: Path):
    spec = importlib.util.spec_from_file_location(f"_emergent_preflight_{folder.name}", folder / "utils.py")
    assert spec is not None and spec.loader is not None, folder
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def data_problem(task: str, names: dict[str, Path]) -> str | None:
    """Why `task`'s data cannot load here, or None when it can (or may: a hub dataset in the local cache)."""
    from lm_eval_tasks.sources import DATA_ENV, DatasetMissing

    path = names[task]
    loader = _LOADER.search(path.read_text("utf-8"))
    if loader is None:
        return None
    module = _utils(path.parent)
    src = getattr(module, "SOURCE", None)
    if src is None:  # a local generated task (the mini-suite): loading it is cheap and says it all
        from contracts.errors import DataError

        try:
            getattr(module, loader.group(1))()
        except DatasetMissing as err:
            return str(err)
        except DataError as err:  # there, but damaged: an error whether named alone or through a group
            raise PreflightError(f"{task}: {err}") from None
        return None
    files = os.environ.get(src.files_env) if src.files_env else None
    if files:
        return None if Path(files).expanduser().is_dir() else f"{task}: {src.files_env}={files} is not a directory; {src.ways()}"
    root = os.environ.get(DATA_ENV)
    if root:
        if not Path(root).expanduser().is_dir():
            return f"{task}: {DATA_ENV}={root} is not a directory; point it at DIR/<task>/<split>.jsonl or unset it"
        for split in src.required:
            if not (Path(root).expanduser() / src.task / f"{split}.jsonl").is_file():
                return f"{task}: {Path(root) / src.task / f'{split}.jsonl'} does not exist ({DATA_ENV} is set); {src.ways()}"
        return None
    if not src.hub_path:
        return f"{task}: the dataset has no hub copy; {src.ways()}"
    if offline() and not in_hub_cache(src.hub_path):
        return f"{task}: {src.hub} is not in the local Hugging Face cache and the hub is offline; {src.ways()}"
    return None


def offline() -> bool:
    return any(os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on") for v in _OFFLINE_VARS[:2])


def _hf_home() -> Path:
    return Path(os.environ.get("HF_HOME") or Path("~/.cache/huggingface")).expanduser()


def in_hub_cache(repo: str) -> bool:
    """Whether `datasets` or the hub client holds any copy of dataset `repo` (org/name) locally."""
    hub = Path(os.environ.get("HF_HUB_CACHE") or _hf_home() / "hub").expanduser()
    arrow = Path(os.environ.get("HF_DATASETS_CACHE") or _hf_home() / "datasets").expanduser()
    return (hub / f"datasets--{repo.replace('/', '--')}").is_dir() or (arrow / repo.replace("/", "___")).is_dir()


def hub_reachable(timeout: float = 3.0) -> bool:
    """One TCP connection to the hub's endpoint, bounded in time (a name lookup without network can hang)."""
    endpoint = os.environ.get("HF_ENDPOINT") or "https://" + "huggingface" + ".co"
    url = urlparse(endpoint)
    result: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((url.hostname or "", url.port or (443 if url.scheme == "https" else 80)),
                                     timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def go_offline(log) -> None:
    """Offline mode for the rest of this process (the libraries read the variables at import: patch those loaded)."""
    for var in _OFFLINE_VARS:
        os.environ[var] = "1"
    for module, attr in (("huggingface_hub.constants", "HF_HUB_OFFLINE"), ("datasets.config", "HF_HUB_OFFLINE"),
                         ("datasets.config", "HF_DATASETS_OFFLINE")):
        if module in sys.modules and hasattr(sys.modules[module], attr):
            setattr(sys.modules[module], attr, True)
    log("warning: the Hugging Face hub cannot be reached; reading datasets and models from the local cache only "
        "(HF_HUB_OFFLINE=1; set it yourself to skip this check)")


def _local(model_path: str) -> bool:
    """A path rather than a hub id (org/name)."""
    return model_path.startswith(("/", ".", "~")) or model_path.count("/") >= 2 or Path(model_path).exists()


def model_problem(model_path: str | None) -> str | None:
    if not model_path:
        return None
    if _local(model_path) and not Path(model_path).expanduser().is_dir():
        return (f"pretrained={model_path}: no such directory; give a checkpoint directory "
                "(RUN/checkpoints/step_N, with config.json) or a hub id")
    return None


def check_run(requested: list[str], model_path: str | None = None, log=print,
              names: dict[str, Path] | None = None) -> list[str]:
    """Raise PreflightError for the first problem; returns the suite's tasks the request covers.
    `names` is declared() when the caller already has it (the YAMLs are then not read again)."""
    names = declared() if names is None else names
    problem = unknown_names(requested, names)
    if problem:
        raise PreflightError(problem)
    ours = [n for n in requested if n in names]
    if not ours:
        return []
    problem = model_problem(model_path)
    if problem:
        raise PreflightError(problem)
    needs_hub = not os.environ.get("EMERGENT_SUITE_DATA") or bool(model_path and not _local(model_path))
    if needs_hub and not offline() and not hub_reachable():
        go_offline(log)
    covered: list[str] = []
    for name in ours:
        tasks = expand(name, names)
        problems = {t: data_problem(t, names) for t in tasks}
        present = [t for t in tasks if problems[t] is None]
        if not present:
            first = next(iter(problems.values()))
            scope = f"no task of group {name} has its data (first: {first})" if tasks != [name] else first
            raise PreflightError(scope)
        covered += present
    return covered


def _model_path(args) -> str | None:
    model_args = getattr(args, "model_args", None)
    if isinstance(model_args, str):
        pairs = dict(p.split("=", 1) for p in model_args.split(",") if "=" in p)
    else:
        pairs = dict(model_args or {})
    value = pairs.get("pretrained") or pairs.get("model")
    return str(value) if value else None


def guard_lm_eval_run(execute):
    """lm-eval's `run` command, with the suite's checks first and its errors as one line (exit status 2)."""
    import functools

    @functools.wraps(execute)
    def run(args):
        from lm_eval_tasks.sources import DatasetMissing

        requested = [t for item in (getattr(args, "tasks", None) or []) for t in str(item).split(",") if t.strip()]
        try:
            ours = check_run(requested, _model_path(args), log=lambda line: print(line, file=sys.stderr))
        except PreflightError as err:
            _fail(str(err))
        if not ours:
            return execute(args)
        try:
            return execute(args)
        except DatasetMissing as err:  # a task named on its own whose rows failed to load after all
            _fail(str(err))
        except OSError as err:  # a hub id that is neither cached nor reachable, a damaged checkpoint
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            _fail(f"{first} (the model or a file it needs cannot be loaded; EMERGENT_DEBUG=1 shows the traceback)")

    run._emergent_suite = True
    return run


def _fail(message: str) -> None:
    from contracts.errors import debugging

    if debugging():
        import traceback

        traceback.print_exc()
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def patch_lm_eval_cli(module) -> None:
    """Called by _autoload when lm_eval._cli.run is imported: guard its Run command."""
    run = getattr(module, "Run", None)
    if run is None or not callable(getattr(run, "_execute", None)):
        from lm_eval_tasks.lm_eval_shape import unsupported

        return unsupported("has no lm_eval._cli.run.Run._execute (the suite's checks before `lm_eval run` are off)")
    if getattr(run._execute, "_emergent_suite", False):
        return None
    run._execute = staticmethod(guard_lm_eval_run(run._execute))
    return None
