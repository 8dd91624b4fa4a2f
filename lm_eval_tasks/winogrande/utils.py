"""WinoGrande (allenai/winogrande, winogrande_xl): partial scoring, as in the GPT-3 and lm-eval setups.

The blank is filled with each option; the rest of the sentence is scored after each filled prefix.
"""
from lm_eval_tasks.sources import load_task_data


def load(**kwargs):
    return load_task_data("es_winogrande", "allenai/winogrande", "winogrande_xl", ["train", "validation"],
                          required=["validation"])


def process_docs(dataset):
    def convert(doc):
        cut = doc["sentence"].index("_")
        prefix = doc["sentence"][:cut]
        return {"contexts": [prefix + doc["option1"], prefix + doc["option2"]],
                "continuation": doc["sentence"][cut + 1:].strip(), "gold": int(doc["answer"]) - 1, "delimiter": " "}

    return dataset.map(convert)


def doc_to_text(doc):
    return doc["gold"]
