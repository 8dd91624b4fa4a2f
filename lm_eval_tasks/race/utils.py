"""RACE (ehovy/race, all = middle + high): reading comprehension, one question per item.

Hub rows: example_id, article, question, options [4 str], answer as a letter "A".."D".
"""
from lm_eval_tasks.sources import Source, load_source

SOURCE = Source("es_race", ("train", "test"), ("train", "test"),
                schema='{"article": str, "question": str, "options": [4 str], "answer": "A".."D"}',
                hub_path="ehovy/race", hub_name="all")


def load(**kwargs):
    return load_source(SOURCE)


def process_docs(dataset):
    def convert(doc):
        return {"query": f"Article: {doc['article'].strip()}\n\nQuestion: {doc['question'].strip()}\nAnswer:",
                "choices": list(doc["options"]), "gold": "ABCD".index(doc["answer"].strip())}

    return dataset.map(convert)
