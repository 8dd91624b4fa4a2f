"""Where each task's rows come from: the dataset's official files, local JSONL, or the Hugging Face hub.

A task's `Source` says which splits it needs and the schema of its rows. The rows are looked for, in order:
1. a task-specific variable naming the directory of the dataset's official files, for the datasets with
   no hub copy (EMERGENT_SUITE_NLPCC_KBQA, EMERGENT_SUITE_CLOZET);
2. EMERGENT_SUITE_DATA=DIR: DIR/<task>/<split>.jsonl, one row per line in the hub dataset's own schema
   (a ClassLabel as its int, missing values as null);
3. the hub, through `datasets`.
So one EMERGENT_SUITE_DATA directory for ten datasets combines with the official NLPCC and LOT files.
A dataset that none of them supplies raises DatasetMissing with one line naming what is missing and
every way to supply it (variable, file, schema).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from contracts.atomic import read_jsonl_strict

DATA_ENV = "EMERGENT_SUITE_DATA"


class DatasetMissing(FileNotFoundError):
    pass


@dataclass(frozen=True)
class Source:
    task: str
    splits: tuple[str, ...]              # the splits the task reads
    required: tuple[str, ...]            # evaluation split, and the few-shot split of few-shot tasks
    schema: str                          # the fields of one row, as the hub (or the official files) give them
    hub_path: str | None = None          # None: the dataset has no hub copy
    hub_name: str | None = None
    hub_rows: Callable[[], dict[str, list[dict]]] | None = None  # replaces a plain load_dataset(hub_path, hub_name)
    files_env: str | None = None         # variable naming a directory of the official files
    files_rows: Callable[[Path], dict[str, list[dict]]] | None = None
    files_hint: str = ""                 # which official files that directory holds
    postprocess: Callable[[dict[str, list[dict]]], dict[str, list[dict]]] | None = None

    @property
    def hub(self) -> str:
        return f"{self.hub_path}" + (f" ({self.hub_name})" if self.hub_name else "")

    def ways(self) -> str:
        """Every way to supply this dataset, in one clause."""
        local = f"{DATA_ENV}=DIR with DIR/{self.task}/{{{','.join(self.required)}}}.jsonl (rows {self.schema})"
        ways = []
        if self.files_env:
            ways.append(f"{self.files_env}=DIR with {self.files_hint}")
        ways.append(local)
        if self.hub_path:
            ways.append(f"network access to the hub dataset {self.hub} (with {DATA_ENV} unset)")
        return "supply it with " + ", or ".join(ways)


def local_dir() -> Path | None:
    value = os.environ.get(DATA_ENV)
    return Path(value).expanduser() if value else None


def to_dataset_dict(split_rows: dict[str, list[dict]]):
    import datasets

    return datasets.DatasetDict({split: datasets.Dataset.from_list(rows) for split, rows in split_rows.items() if rows})


def _from_local(src: Source, root: Path) -> dict[str, list[dict]]:
    out = {}
    for split in src.splits:
        path = root / src.task / f"{split}.jsonl"
        if path.is_file():
            out[split] = read_jsonl_strict(path)
        elif split in src.required:
            raise DatasetMissing(f"{src.task}: {path} does not exist ({DATA_ENV} is set); {src.ways()}")
    return out


def _from_files(src: Source, root: Path) -> dict[str, list[dict]]:
    if not root.is_dir():
        raise DatasetMissing(f"{src.task}: {src.files_env}={root} is not a directory; {src.ways()}")
    if src.files_rows is None:
        raise TypeError(f"{src.task}: Source names {src.files_env} but no files_rows reader for it")
    rows = src.files_rows(root)
    missing = [s for s in src.required if not rows.get(s)]
    if missing:
        raise DatasetMissing(f"{src.task}: {root} lacks the {', '.join(missing)} split ({src.files_env} is set); {src.ways()}")
    return rows


def _from_hub(src: Source) -> dict[str, list[dict]]:
    try:
        if src.hub_rows is not None:
            rows = src.hub_rows()
        else:
            import datasets

            loaded = datasets.load_dataset(src.hub_path, src.hub_name)
            rows = {split: list(loaded[split]) for split in src.splits if split in loaded}
    except DatasetMissing:
        raise
    except Exception as err:  # offline, gated, renamed: say what to do instead
        raise DatasetMissing(f"{src.task}: could not load {src.hub} from the hub ({type(err).__name__}: "
                             f"{str(err)[:160]}); {src.ways()}") from None
    missing = [s for s in src.required if not rows.get(s)]
    if missing:
        raise DatasetMissing(f"{src.task}: {src.hub} has no {', '.join(missing)} split; {src.ways()}")
    return rows


def load_rows(src: Source) -> dict[str, list[dict]]:
    """The raw rows of every split `src` reads (official files, then local JSONL, then the hub)."""
    files = os.environ.get(src.files_env) if src.files_env else None
    if files:
        return _from_files(src, Path(files).expanduser())
    root = local_dir()
    if root is not None:
        return _from_local(src, root)
    if src.hub_path:
        return _from_hub(src)
    raise DatasetMissing(f"{src.task}: the dataset has no hub copy; {src.ways()}")


def load_source(src: Source):
    """The DatasetDict lm-eval reads for `src`'s task."""
    rows = load_rows(src)
    if src.postprocess is not None:
        rows = src.postprocess(rows)
    return to_dataset_dict(rows)
