"""C3 (clue/clue, c3): Chinese multiple-choice reading comprehension with 2 to 4 choices."""
from lm_eval_tasks.sources import load_task_data


def load(**kwargs):
    return load_task_data("es_c3", "clue/clue", "c3", ["train", "validation"], required=["validation"])


def process_docs(dataset):
    def convert(doc):
        query = "\n".join(doc["context"]) + f"\n问题：{doc['question']}\n答案："
        return {"query": query, "choices": list(doc["choice"]), "gold": list(doc["choice"]).index(doc["answer"])}

    return dataset.map(convert)
