"""GSM8K (openai/gsm8k, main): 8-shot chain of thought, exact match on the final number.

Hub rows: question, answer (the worked solution with <<calculator>> notes, ending "#### N").
The exemplars are Wei et al.'s, written in the YAML, so only the test split is read.
"""
import re

from lm_eval_tasks.sources import Source, load_source

SOURCE = Source("es_gsm8k", ("test",), ("test",), schema='{"question": str, "answer": str ending "#### N"}',
                hub_path="openai/gsm8k", hub_name="main")


def load(**kwargs):
    return load_source(SOURCE)


def solution_as_cot(answer: str, closing: str = "The answer is {}.") -> tuple[str, str]:
    """The reference solution in the exemplars' style: calculator notes dropped, the final line spelled out."""
    reasoning, final = answer.split("####")
    reasoning = re.sub(r"<<.*?>>", "", reasoning)
    final = final.strip().replace(",", "")
    return " ".join(line.strip() for line in reasoning.strip().splitlines() if line.strip()) + " " + closing.format(final), final


def process_docs(dataset):
    def convert(doc):
        cot, final = solution_as_cot(doc["answer"])
        # nll_target is the exact scored continuation: lm-eval adds no delimiter to loglikelihood targets.
        return {"question": doc["question"].strip(), "cot": cot, "nll_target": " " + cot, "final_answer": final}

    return dataset.map(convert)
