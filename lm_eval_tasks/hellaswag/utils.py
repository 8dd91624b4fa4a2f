"""HellaSwag (Rowan/hellaswag): commonsense completion, zero-shot; lm-eval's preprocessing."""
import re

from lm_eval_tasks.sources import load_task_data


def load(**kwargs):
    return load_task_data("es_hellaswag", "Rowan/hellaswag", None, ["train", "validation"], required=["validation"])


def _clean(text: str) -> str:
    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)  # WikiHow bracket artifacts
    return text.replace("  ", " ")


def process_docs(dataset):
    def convert(doc):
        context = doc["ctx_a"] + " " + doc["ctx_b"].capitalize()
        return {"query": _clean(doc["activity_label"] + ": " + context),
                "choices": [_clean(e) for e in doc["endings"]], "gold": int(doc["label"])}

    return dataset.map(convert)
