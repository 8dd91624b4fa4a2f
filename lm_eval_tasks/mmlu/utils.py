"""MMLU (cais/mmlu, all): 5-shot from the subject's dev questions, Hendrycks et al.'s prompt."""
from lm_eval_tasks.exams import add_subject_shots
from lm_eval_tasks.sources import load_task_data


def _postprocess(rows):
    return add_subject_shots(
        rows, "test", "dev", 5,
        header=lambda s: f"The following are multiple choice questions (with answers) about {s.replace('_', ' ')}.\n\n",
        options_of=lambda r: r["choices"], answer_of=lambda r: int(r["answer"]), answer_prefix="Answer:",
        answer_sep=" ")


def load(**kwargs):
    return load_task_data("es_mmlu", "cais/mmlu", "all", ["dev", "test"], required=["dev", "test"],
                          postprocess=_postprocess)
