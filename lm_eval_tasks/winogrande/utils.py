"""WinoGrande (allenai/winogrande, winogrande_xl): partial scoring, as in the GPT-3 and lm-eval setups.

Hub rows: sentence (one "_"), option1, option2, answer as a *string* "1" or "2" ("" on test).
The blank is filled with each option; the rest of the sentence is scored after each filled prefix.
"""
from lm_eval_tasks.sources import Source, load_source

SOURCE = Source("es_winogrande", ("validation",), ("validation",),
                schema='{"sentence": str with one "_", "option1": str, "option2": str, "answer": "1" | "2"}',
                hub_path="allenai/winogrande", hub_name="winogrande_xl")
GOLD = {"1": 0, "2": 1}


def load(**kwargs):
    return load_source(SOURCE)


def process_docs(dataset):
    def convert(doc):
        cut = doc["sentence"].index("_")
        prefix = doc["sentence"][:cut]
        return {"contexts": [prefix + doc["option1"], prefix + doc["option2"]],
                "continuation": doc["sentence"][cut + 1:].strip(), "gold": GOLD[str(doc["answer"])], "delimiter": " "}

    return dataset.map(convert)


def doc_to_text(doc):
    return doc["gold"]
