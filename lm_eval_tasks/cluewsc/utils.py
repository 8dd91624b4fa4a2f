"""CLUEWSC2020 (clue/clue, cluewsc2020): does the pronoun refer to the candidate? Zero-shot yes/no.

Hub rows (the `clue` loading script): idx, text, target {span1_text, span2_text, span1_index, span2_index},
label a ClassLabel with names ["true", "false"], so 0 = true (是) and 1 = false (否); test rows have -1.
CLUE's raw files spell the label "true"/"false"; both spellings are read.
"""
from lm_eval_tasks.labels import class_index
from lm_eval_tasks.sources import Source, load_source

SOURCE = Source("es_cluewsc", ("validation",), ("validation",),
                schema='{"text": str, "label": 0 (true) | 1 (false), "target": {"span1_text": str, "span2_text": str, ...}}',
                hub_path="clue/clue", hub_name="cluewsc2020")
LABEL_NAMES = ["true", "false"]  # ClassLabel order: index 0 is "true"
CHOICES = ["是", "否"]          # in the same order, so the label's index is the gold choice


def load(**kwargs):
    return load_source(SOURCE)


def process_docs(dataset):
    def convert(doc):
        target = doc["target"]
        query = f"{doc['text']}\n问题：句子中的“{target['span2_text']}”指的是“{target['span1_text']}”吗？\n答案："
        return {"query": query, "choices": CHOICES, "gold": class_index(doc["label"], LABEL_NAMES, "es_cluewsc")}

    return dataset.map(convert)
