"""NLPCC-KBQA (NLPCC 2016/2017 open-domain KBQA), closed book: no hub copy exists.

Point EMERGENT_SUITE_NLPCC_KBQA at the directory holding the official files
(nlpcc-iccpol-2016.kbqa.training-data and nlpcc-iccpol-2016.kbqa.testing-data), whose records read

    <question id=1>	《机械设计基础》这本书的作者是谁？
    <triple id=1>	机械设计基础 ||| 作者 ||| 杨可桢，程光蕴，李仲生
    <answer id=1>	杨可桢，程光蕴，李仲生
    ==================================================

or set EMERGENT_SUITE_DATA with es_nlpcc_kbqa/{train,test}.jsonl rows {question, triple, answer}
(the same records as JSON). The variable wins when both are set.
"""
import re
from pathlib import Path

from lm_eval_tasks.sources import Source, load_source

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


def _official_rows(root: Path) -> dict[str, list[dict]]:
    return {split: parse_official((root / name).read_text(encoding="utf-8"))
            for split, name in FILES.items() if (root / name).is_file()}


SOURCE = Source("es_nlpcc_kbqa", ("train", "test"), ("train", "test"),
                schema='{"question": str, "triple": str, "answer": str}',
                files_env=PATH_ENV, files_rows=_official_rows,
                files_hint=f"the official files {FILES['train']} and {FILES['test']}")


def load(**kwargs):
    return load_source(SOURCE)


def process_docs(dataset):
    def convert(doc):
        answer = doc["answer"].strip()
        return {"question": doc["question"].strip(), "answer": answer, "answers": [answer],
                "nll_target": answer, "delimiter": ""}

    return dataset.map(convert)
