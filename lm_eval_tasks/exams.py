"""Exam-style tasks (MMLU, C-Eval): k-shot prompts built from the same subject's dev questions.

lm-eval's own MMLU is 57 tasks, one per subject, so that few-shot examples share the subject. Here
each exam is one task: the subject's first k dev questions are written into the prompt when the
data is loaded (so lm-eval's num_fewshot stays 0 for these tasks).
"""
from __future__ import annotations

LETTERS = "ABCD"


def format_question(question: str, options: list[str], answer_prefix: str) -> str:
    lines = [question.strip()] + [f"{LETTERS[i]}. {str(opt).strip()}" for i, opt in enumerate(options)]
    return "\n".join(lines) + f"\n{answer_prefix}"


def add_subject_shots(rows: dict[str, list[dict]], eval_split: str, dev_split: str, k: int, header, options_of,
                      answer_of, answer_prefix: str, answer_sep: str) -> dict[str, list[dict]]:
    """Give every eval row a `query`: subject header, k solved dev questions, then the question."""
    by_subject: dict[str, list[dict]] = {}
    for row in rows.get(dev_split, []):
        by_subject.setdefault(row["subject"], []).append(row)
    out = dict(rows)
    converted = []
    for row in rows[eval_split]:
        parts = [header(row["subject"])]
        for shot in by_subject.get(row["subject"], [])[:k]:
            parts.append(format_question(shot["question"], options_of(shot), answer_prefix)
                         + answer_sep + LETTERS[answer_of(shot)] + "\n\n")
        parts.append(format_question(row["question"], options_of(row), answer_prefix))
        converted.append({**row, "query": "".join(parts), "choices": list(LETTERS), "gold": answer_of(row)})
    out[eval_split] = converted
    return out
