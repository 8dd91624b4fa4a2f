"""ClozeT (LOT benchmark, Guan et al. 2022): pick the sentence removed from a Chinese story. No hub copy.

Point EMERGENT_SUITE_CLOZET at the directory of LOT's ClozeT files (train.jsonl, val.jsonl, test.jsonl with
{"story": "...<mask>...", "plot0": ..., "plot1": ..., "label": "0" | "1"}), or set EMERGENT_SUITE_DATA
with es_clozet/val.jsonl in that schema. The variable wins when both are set.

Scored by partial scoring: the story after the gap is scored after the prefix plus each candidate,
so both sides of the gap count. A gap at the very end leaves nothing to score after it; there the
end of the story (a newline) is scored instead.
"""
from pathlib import Path

from contracts.atomic import read_jsonl_strict
from lm_eval_tasks.labels import class_index
from lm_eval_tasks.sources import Source, load_source

PATH_ENV = "EMERGENT_SUITE_CLOZET"


def _official_rows(root: Path) -> dict[str, list[dict]]:
    return {split: read_jsonl_strict(root / f"{split}.jsonl") for split in ("val",) if (root / f"{split}.jsonl").is_file()}


SOURCE = Source("es_clozet", ("val",), ("val",),
                schema='{"story": str with one "<mask>", "plot0": str, "plot1": str, "label": "0" | "1"}',
                files_env=PATH_ENV, files_rows=_official_rows, files_hint="LOT's ClozeT val.jsonl")


def load(**kwargs):
    return load_source(SOURCE)


def process_docs(dataset):
    def convert(doc):
        prefix, _, suffix = doc["story"].partition("<mask>")
        gold = class_index(doc["label"], ["0", "1"], "es_clozet")  # "0"/"1" as LOT writes it, or 0/1
        return {"contexts": [prefix + doc["plot0"], prefix + doc["plot1"]], "continuation": suffix or "\n",
                "gold": gold, "delimiter": ""}

    return dataset.map(convert)


def doc_to_text(doc):
    return doc["gold"]
