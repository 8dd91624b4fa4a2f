"""Where each task's rows come from: the Hugging Face hub, or local JSONL for offline clusters and tests.

Set EMERGENT_SUITE_DATA=DIR and every task reads DIR/<task>/<split>.jsonl instead of the hub, in
the hub dataset's own schema (one JSON object per line). Datasets with no hub copy (NLPCC-KBQA,
LOT's ClozeT) read their official files from a path (EMERGENT_SUITE_NLPCC_KBQA, EMERGENT_SUITE_CLOZET)
or the same local JSONL layout. A missing dataset fails with a message naming the hub id and the
local path that was looked for.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from contracts.atomic import read_jsonl_strict

DATA_ENV = "EMERGENT_SUITE_DATA"


class DatasetMissing(FileNotFoundError):
    pass


def local_dir() -> Path | None:
    value = os.environ.get(DATA_ENV)
    return Path(value).expanduser() if value else None


def to_dataset_dict(split_rows: dict[str, list[dict]]):
    import datasets

    return datasets.DatasetDict({split: datasets.Dataset.from_list(rows) for split, rows in split_rows.items() if rows})


def load_local(task: str, splits: list[str], required: list[str], source: str) -> dict[str, list[dict]]:
    root = local_dir()
    out = {}
    for split in splits:
        path = root / task / f"{split}.jsonl"
        if path.is_file():
            out[split] = read_jsonl_strict(path)
        elif split in required:
            raise DatasetMissing(
                f"{task}: {DATA_ENV} is set but {path} does not exist; write the rows of {source} "
                f"({split} split) there in the hub schema, or unset {DATA_ENV} to read {source} from the hub"
            )
    return out


def load_task_data(task: str, hub_path: str, hub_name: str | None, splits: list[str], required: list[str],
                   hub_rows: Callable[[], dict[str, list[dict]]] | None = None,
                   postprocess: Callable[[dict[str, list[dict]]], dict[str, list[dict]]] | None = None):
    """The DatasetDict for `task`: local JSONL when EMERGENT_SUITE_DATA is set, else the hub.

    `hub_rows` replaces the plain `datasets.load_dataset(hub_path, hub_name)` for datasets spread
    over several configurations (C-Eval) or shipped as raw files.
    """
    source = f"{hub_path}" + (f" ({hub_name})" if hub_name else "")
    if local_dir() is not None:
        rows = load_local(task, splits, required, source)
    else:
        try:
            if hub_rows is not None:
                rows = hub_rows()
            else:
                import datasets

                loaded = datasets.load_dataset(hub_path, hub_name)
                rows = {split: list(loaded[split]) for split in splits if split in loaded}
        except DatasetMissing:
            raise
        except Exception as err:  # offline, gated, renamed: say what to do instead
            raise DatasetMissing(
                f"{task}: could not load {source} from the hub ({type(err).__name__}: {str(err)[:200]}); "
                f"for offline use set {DATA_ENV}=DIR with DIR/{task}/<split>.jsonl in the hub schema"
            ) from None
        missing = [s for s in required if s not in rows]
        if missing:
            raise DatasetMissing(f"{task}: {source} has no split {missing}")
    if postprocess is not None:
        rows = postprocess(rows)
    return to_dataset_dict(rows)
