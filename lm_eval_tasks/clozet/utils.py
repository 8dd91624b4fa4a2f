"""ClozeT (LOT benchmark, Guan et al. 2022): pick the sentence removed from a Chinese story. No hub copy.

Point EMERGENT_SUITE_CLOZET at the directory of LOT's files (train.jsonl, val.jsonl, test.jsonl with
{"story": "...<mask>...", "plot0": ..., "plot1": ..., "label": "0" | "1"}), or set
EMERGENT_SUITE_DATA with es_clozet/{train,val}.jsonl in that schema.

Scored by partial scoring: the story after the gap is scored after the prefix plus each candidate,
so both sides of the gap count. A gap at the very end leaves nothing to score after it; there the
end of the story (a newline) is scored instead.
"""
import os
from pathlib import Path

from lm_eval_tasks.sources import DatasetMissing, load_task_data
from contracts.atomic import read_jsonl_strict

PATH_ENV = "EMERGENT_SUITE_CLOZET"


def _official_rows():
    root = os.environ.get(PATH_ENV)
    if not root:
        raise DatasetMissing(f"es_clozet: LOT's ClozeT has no hub copy; set {PATH_ENV}=DIR with LOT's val.jsonl, "
                             "or EMERGENT_SUITE_DATA=DIR with es_clozet/val.jsonl")
    rows = {split: read_jsonl_strict(Path(root) / f"{split}.jsonl") for split in ("train", "val") if (Path(root) / f"{split}.jsonl").is_file()}
    if "val" not in rows:
        raise DatasetMissing(f"es_clozet: {Path(root) / 'val.jsonl'} does not exist")
    return rows


def load(**kwargs):
    return load_task_data("es_clozet", f"LOT's ClozeT files (${PATH_ENV})", None, ["train", "val"], required=["val"],
                          hub_rows=_official_rows)


def process_docs(dataset):
    def convert(doc):
        prefix, _, suffix = doc["story"].partition("<mask>")
        return {"contexts": [prefix + doc["plot0"], prefix + doc["plot1"]], "continuation": suffix or "\n",
                "gold": int(doc["label"]), "delimiter": ""}

    return dataset.map(convert)


def doc_to_text(doc):
    return doc["gold"]
