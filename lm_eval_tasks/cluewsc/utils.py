"""CLUEWSC2020 (clue/clue, cluewsc2020): does the pronoun refer to the candidate? Zero-shot yes/no."""
from lm_eval_tasks.sources import load_task_data


def load(**kwargs):
    return load_task_data("es_cluewsc", "clue/clue", "cluewsc2020", ["train", "validation"], required=["validation"])


def _is_true(label) -> bool:
    # The hub stores a ClassLabel (0 = "true", 1 = "false"); CLUE's raw files store the strings.
    return label in (0, "0", "true", True)


def process_docs(dataset):
    def convert(doc):
        target = doc["target"]
        query = f"{doc['text']}\n问题：句子中的“{target['span2_text']}”指的是“{target['span1_text']}”吗？\n答案："
        return {"query": query, "choices": ["是", "否"], "gold": 0 if _is_true(doc["label"]) else 1}

    return dataset.map(convert)
