"""GSM8K-Chinese (meta-math/GSM8K_zh): one file whose `split` column marks the 1,319 test questions.

Test rows carry the Chinese question (question_zh) and GSM8K's English solution (answer); the final
number comes from the solution, and the gold answer scored by es_gsm8k_zh_nll is "答案是 N。".
"""
from lm_eval_tasks.sources import load_task_data


def _hub_rows():
    import datasets

    rows = {"train": [], "test": []}
    for row in datasets.load_dataset("meta-math/GSM8K_zh")["train"]:
        rows.setdefault(row["split"], []).append(row)
    return rows


def load(**kwargs):
    return load_task_data("es_gsm8k_zh", "meta-math/GSM8K_zh", None, ["test"], required=["test"], hub_rows=_hub_rows)


def process_docs(dataset):
    def convert(doc):
        final = doc["answer"].split("####")[-1].strip().replace(",", "")
        return {"question_zh": doc["question_zh"].strip(), "final_answer": final, "cot": f"答案是 {final}。",
                "nll_target": f"答案是 {final}。", "delimiter": ""}

    return dataset.map(convert)
