"""C3 (clue/clue, c3): Chinese multiple-choice reading comprehension with 2 to 4 choices.

Hub rows: id, context [str] (dialogue turns or paragraphs), question, choice [2-4 str], answer as the
text of the right choice ("" on test).
"""
from lm_eval_tasks.sources import Source, load_source

SOURCE = Source("es_c3", ("train", "validation"), ("train", "validation"),
                schema='{"context": [str], "question": str, "choice": [2-4 str], "answer": the right choice\'s text}',
                hub_path="clue/clue", hub_name="c3")


def load(**kwargs):
    return load_source(SOURCE)


def process_docs(dataset):
    def convert(doc):
        choices = list(doc["choice"])
        if doc["answer"] not in choices:
            raise ValueError(f"es_c3: answer {doc['answer']!r} is not one of the choices {choices} (test rows have no answer)")
        query = "\n".join(doc["context"]) + f"\n问题：{doc['question']}\n答案："
        return {"query": query, "choices": choices, "gold": choices.index(doc["answer"])}

    return dataset.map(convert)
