"""NLPCC-KBQA (NLPCC 2016/2017 open-domain KBQA), closed book: no hub copy exists.

Point EMERGENT_SUITE_NLPCC_KBQA at the directory holding the official files
(nlpcc-iccpol-2016.kbqa.training-data and nlpcc-iccpol-2016.kbqa.testing-data), whose records read

    <question id=1>	《机械设计基础》这本书的作者是谁？
    <triple id=1>	机械设计基础 ||| 作者 ||| 杨可桢，程光蕴，李仲生
    <answer id=1>	杨可桢，程光蕴，李仲生
    ==================================================

or set EMERGENT_SUITE_DATA with es_nlpcc_kbqa/{train,test}.jsonl rows {question, triple, answer}.
"""
import os
import re
from pathlib import Path

from lm_eval_tasks.sources import DatasetMissing, load_task_data

PATH_ENV = "EMERGENT_SUITE_NLPCC_KBQA"
FILES = {"train": "nlpcc-iccpol-2016.kbqa.training-data", "test": "nlpcc-iccpol-2016.kbqa.testing-data"}
_FIELD = re.compile(r"^<(question|triple|answer) id=(\d+)>\s*(.*)$")


def parse_official(text: str) -> list[dict]:
    records: dict[str, dict] = {}
    for line in text.splitlines():
        match = _FIELD.match(line.strip())
        if match:
            kind, ident, value = match.groups()
            records.setdefault(ident, {"id": int(ident)})[kind] = value.strip()
    return [r for r in sorted(records.values(), key=lambda r: r["id"]) if "question" in r and "answer" in r]


def _official_rows():
    root = os.environ.get(PATH_ENV)
    if not root:
        raise DatasetMissing(f"es_nlpcc_kbqa: NLPCC-KBQA has no hub copy; set {PATH_ENV}=DIR with the official files "
                             f"{FILES['train']} and {FILES['test']}, or EMERGENT_SUITE_DATA=DIR with es_nlpcc_kbqa/test.jsonl")
    rows = {}
    for split, name in FILES.items():
        path = Path(root) / name
        if path.is_file():
            rows[split] = parse_official(path.read_text(encoding="utf-8"))
        elif split == "test":
            raise DatasetMissing(f"es_nlpcc_kbqa: {path} does not exist; {PATH_ENV} must name the directory of the official files")
    return rows


def load(**kwargs):
    return load_task_data("es_nlpcc_kbqa", f"the official NLPCC-KBQA files (${PATH_ENV})", None, ["train", "test"],
                          required=["test"], hub_rows=_official_rows)


def process_docs(dataset):
    def convert(doc):
        return {"question": doc["question"].strip(), "answer": doc["answer"].strip(), "answers": [doc["answer"].strip()],
                "nll_target": doc["answer"].strip(), "delimiter": ""}

    return dataset.map(convert)
