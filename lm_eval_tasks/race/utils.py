"""RACE (ehovy/race, all = middle + high): reading comprehension, one question per item."""
from lm_eval_tasks.sources import load_task_data


def load(**kwargs):
    return load_task_data("es_race", "ehovy/race", "all", ["train", "test"], required=["test"])


def process_docs(dataset):
    def convert(doc):
        return {"query": f"Article: {doc['article'].strip()}\n\nQuestion: {doc['question'].strip()}\nAnswer:",
                "choices": list(doc["options"]), "gold": "ABCD".index(doc["answer"].strip())}

    return dataset.map(convert)
