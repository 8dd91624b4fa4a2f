"""TriviaQA (mandarjoshi/trivia_qa, rc.nocontext): closed-book QA, exact match against any alias."""
from lm_eval_tasks.sources import load_task_data


def load(**kwargs):
    return load_task_data("es_triviaqa", "mandarjoshi/trivia_qa", "rc.nocontext", ["train", "validation"],
                          required=["validation"])


def process_docs(dataset):
    def convert(doc):
        value = doc["answer"]["value"]
        return {"question": doc["question"].strip(), "answer": value, "nll_target": value,
                "answers": list(dict.fromkeys([value, *doc["answer"]["aliases"]]))}

    return dataset.map(convert)
