"""HellaSwag (Rowan/hellaswag): commonsense completion, zero-shot; lm-eval's preprocessing.

Hub rows: activity_label, ctx_a, ctx_b, endings [4 str], label as a *string* "0".."3" ("" on test).
"""
import re

from lm_eval_tasks.sources import Source, load_source

SOURCE = Source("es_hellaswag", ("validation",), ("validation",),
                schema='{"activity_label": str, "ctx_a": str, "ctx_b": str, "endings": [4 str], "label": "0".."3"}',
                hub_path="Rowan/hellaswag")


def load(**kwargs):
    return load_source(SOURCE)


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
