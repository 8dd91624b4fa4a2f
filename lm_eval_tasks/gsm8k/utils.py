"""GSM8K (openai/gsm8k, main): 8-shot chain of thought, exact match on the final number."""
import re

from lm_eval_tasks.sources import load_task_data


def load(**kwargs):
    return load_task_data("es_gsm8k", "openai/gsm8k", "main", ["train", "test"], required=["test"])


def solution_as_cot(answer: str, closing: str = "The answer is {}.") -> tuple[str, str]:
    """The reference solution in the exemplars' style: calculator notes dropped, the final line spelled out."""
    reasoning, final = answer.split("####")
    reasoning = re.sub(r"<<.*?>>", "", reasoning)
    final = final.strip().replace(",", "")
    return " ".join(line.strip() for line in reasoning.strip().splitlines() if line.strip()) + " " + closing.format(final), final


def process_docs(dataset):
    def convert(doc):
        cot, final = solution_as_cot(doc["answer"])
        return {"question": doc["question"].strip(), "cot": cot, "nll_target": cot, "final_answer": final}

    return dataset.map(convert)
