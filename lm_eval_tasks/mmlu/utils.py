"""MMLU (cais/mmlu, all): 5-shot from the subject's dev questions, Hendrycks et al.'s prompt.

Hub rows: question, subject, choices [4 str], answer as a ClassLabel int 0..3 (names A..D).
"""
from lm_eval_tasks.exams import add_subject_shots
from lm_eval_tasks.sources import Source, load_source


def _postprocess(rows):
    return add_subject_shots(
        rows, "test", "dev", 5,
        header=lambda s: f"The following are multiple choice questions (with answers) about {s.replace('_', ' ')}.\n\n",
        options_of=lambda r: r["choices"], answer_of=lambda r: int(r["answer"]), answer_prefix="Answer:",
        answer_sep=" ")


SOURCE = Source("es_mmlu", ("dev", "test"), ("dev", "test"),
                schema='{"question": str, "subject": str, "choices": [4 str], "answer": 0..3}',
                hub_path="cais/mmlu", hub_name="all", postprocess=_postprocess)


def load(**kwargs):
    return load_source(SOURCE)
