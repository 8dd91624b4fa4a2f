"""TriviaQA (mandarjoshi/trivia_qa, rc.nocontext): closed-book QA, exact match against any alias.

Hub rows: question (str), answer {value (str), aliases [str], normalized_aliases, ...}; the few-shot
examples are the first 5 train rows, so train is required with validation.
"""
from lm_eval_tasks.sources import Source, load_source

SOURCE = Source("es_triviaqa", ("train", "validation"), ("train", "validation"),
                schema='{"question": str, "answer": {"value": str, "aliases": [str], ...}}',
                hub_path="mandarjoshi/trivia_qa", hub_name="rc.nocontext")


def load(**kwargs):
    return load_source(SOURCE)


def process_docs(dataset):
    def convert(doc):
        value = doc["answer"]["value"]
        return {"question": doc["question"].strip(), "answer": value, "nll_target": " " + value,
                "answers": list(dict.fromkeys([value, *doc["answer"]["aliases"]]))}

    return dataset.map(convert)
