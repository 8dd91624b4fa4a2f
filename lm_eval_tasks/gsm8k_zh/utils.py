"""GSM8K-Chinese: meta-math/GSM8K_zh, or MGSM's Chinese split (juletxara/mgsm, zh) as the fallback.

meta-math/GSM8K_zh is one file whose `split` column marks the 1,319 test rows; a test row carries the
Chinese question (question_zh) and GSM8K's English solution (answer, ending "#### N"); answer_zh is
given for training rows only. MGSM zh test rows (250) carry question (Chinese), answer: null,
answer_number (int) and equation_solution. Either schema is read, from the hub or from
EMERGENT_SUITE_DATA/es_gsm8k_zh/test.jsonl. The gold answer scored by es_gsm8k_zh_nll is "答案是 N。".
"""
from contracts.answers import last_number
from lm_eval_tasks.sources import DatasetMissing, Source, load_source

PRIMARY, FALLBACK = "meta-math/GSM8K_zh", "juletxara/mgsm"


def _hub_rows():
    import datasets

    try:
        rows = {"train": [], "test": []}
        for row in datasets.load_dataset(PRIMARY)["train"]:
            rows.setdefault(row["split"], []).append(row)
        return rows
    except Exception as first:  # the documented fallback: MGSM's Chinese split
        try:
            return {"test": list(datasets.load_dataset(FALLBACK, "zh")["test"])}
        except Exception as second:
            raise DatasetMissing(f"es_gsm8k_zh: could not load {PRIMARY} ({type(first).__name__}) nor its fallback "
                                 f"{FALLBACK} zh ({type(second).__name__}); {SOURCE.ways()}") from None


SOURCE = Source("es_gsm8k_zh", ("test",), ("test",),
                schema='{"question_zh": str, "answer": str ending "#### N"} (meta-math/GSM8K_zh) or '
                       '{"question": str, "answer": null, "answer_number": int} (juletxara/mgsm zh)',
                hub_path=PRIMARY, hub_rows=_hub_rows)


def load(**kwargs):
    return load_source(SOURCE)


def question_and_answer(doc) -> tuple[str, str | None]:
    """(Chinese question, final number) from a row of either schema."""
    if doc.get("question_zh"):
        return doc["question_zh"].strip(), last_number(doc["answer"].split("####")[-1])
    if doc.get("answer_number") is not None:
        return doc["question"].strip(), last_number(doc["answer_number"])
    raise ValueError(f"es_gsm8k_zh: a row has neither question_zh + answer nor question + answer_number: {sorted(doc)}")


def process_docs(dataset):
    def convert(doc):
        question, final = question_and_answer(doc)
        return {"question_zh": question, "final_answer": final, "cot": f"答案是 {final}。",
                "nll_target": f"答案是 {final}。", "delimiter": ""}

    return dataset.map(convert)
