"""Per-item metrics for the suite; each metric's random-guess baseline is in contracts/lm_eval_results.py.

lm-eval averages every value these functions return over items (aggregation: mean). The baselines are not
lm-eval metrics (results_*.json and every tool reading it would list them as scores): `task_baselines` there
averages RANDOM_BASELINE over the items lm-eval scored (1/C for an item with C choices), which is the expected
score of random guessing on the whole task also when items have different numbers of choices (C3 has 2 to 4; the
built-in `brier_score` of lm-eval assumes one C for all items and crashes there), and `emergent eval` writes it
into the eval table's random_baseline column.

Multiple choice, from the log-likelihoods ll_i of the choices:
- acc: argmax ll is gold (random 1/C);
- acc_norm: argmax ll / len(choice) (lm-eval's character-length normalisation; random 1/C);
- correct_choice_prob: softmax(ll)[gold], the probability on the correct choice (random 1/C);
- brier_score: sum_i (y_i - p_i)^2 with p = softmax(ll) (random 1 - 1/C; lower is better);
- gold_nll_per_byte: -ll_gold / UTF-8 bytes of the scored continuation, the task "loss" of the
  OLMo ladder and Llama 3 (no random baseline is defined, so none is reported).
Generative: exact_match (random 0) and, in the companion `*_nll` task, gold_nll_per_byte.
"""
from __future__ import annotations

import math
import re
import string
import unicodedata

from contracts.answers import last_number, normalize_number  # noqa: F401 -- the one numeric normaliser

def softmax(values: list[float]) -> list[float]:
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    total = sum(exps)
    return [e / total for e in exps]


def choice_metrics(lls: list[float], gold: int, choices: list[str], delimiter: str = " ") -> dict[str, float]:
    """All multiple-choice metrics of one item."""
    n = len(lls)
    if n != len(choices) or not 0 <= gold < n:
        raise ValueError(f"item has {n} log-likelihoods, {len(choices)} choices and gold index {gold}")
    probs = softmax(lls)
    best = max(range(n), key=lambda i: lls[i])
    best_norm = max(range(n), key=lambda i: lls[i] / max(1, len(choices[i])))
    brier = sum(((1.0 if i == gold else 0.0) - p) ** 2 for i, p in enumerate(probs))
    scored = (delimiter + choices[gold]).encode("utf-8")
    return {
        "acc": float(best == gold),
        "acc_norm": float(best_norm == gold),
        "correct_choice_prob": probs[gold],
        "brier_score": brier,
        "gold_nll_per_byte": -lls[gold] / len(scored),
    }


def _lls(results) -> list[float]:
    return [float(r[0]) if isinstance(r, (tuple, list)) else float(r) for r in results]


def process_multiple_choice(doc: dict, results) -> dict[str, float]:
    """process_results for tasks whose docs carry `choices` and `gold` (space before each choice)."""
    return choice_metrics(_lls(results), int(doc["gold"]), list(doc["choices"]), " ")


def process_multiple_choice_nospace(doc: dict, results) -> dict[str, float]:
    """The same for Chinese tasks, which put no delimiter before the choice."""
    return choice_metrics(_lls(results), int(doc["gold"]), list(doc["choices"]), "")


def process_partial_scoring(doc: dict, results) -> dict[str, float]:
    """Winogrande-style items: one continuation scored after each of C contexts.

    The continuation is the same for every choice, so acc_norm equals acc and is not reported.
    """
    lls = _lls(results)
    n, gold = len(lls), int(doc["gold"])
    probs = softmax(lls)
    best = max(range(n), key=lambda i: lls[i])
    scored = (doc.get("delimiter", " ") + doc["continuation"]).encode("utf-8")
    return {
        "acc": float(best == gold),
        "correct_choice_prob": probs[gold],
        "brier_score": sum(((1.0 if i == gold else 0.0) - p) ** 2 for i, p in enumerate(probs)),
        "gold_nll_per_byte": -lls[gold] / len(scored),
    }


def process_gold_nll(doc: dict, results) -> dict[str, float]:
    """Companion `*_nll` tasks: the gold answer's negative log-likelihood per UTF-8 byte.

    `nll_target` is the exact continuation lm-eval scored (loglikelihood requests get no delimiter),
    so the bytes are counted on that string and nothing else.
    """
    ll = _lls(results)[0]
    return {"gold_nll_per_byte": -ll / len(doc["nll_target"].encode("utf-8"))}


# ---------------------------------------------------------------- exact match

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation) | {"。", "，", "、", "；", "：", "？", "！", "“", "”", "‘", "’", "（", "）", "《", "》", "「", "」"}


def normalize_answer(text: str) -> str:
    """SQuAD/TriviaQA normalisation (lowercase, no punctuation or articles), NFKC for CJK text."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def first_response(results) -> str:
    response = results[0] if isinstance(results, (list, tuple)) else results
    return response if isinstance(response, str) else str(response)


def process_exact_match(doc: dict, results) -> dict[str, float]:
    """EM of the (filtered) response against any of `doc["answers"]`, after normalisation."""
    prediction = normalize_answer(first_response(results))
    golds = {normalize_answer(a) for a in doc["answers"]}
    return {"exact_match": float(prediction in golds)}


def process_number_match(doc: dict, results) -> dict[str, float]:
    """GSM8K-style EM on the final number (after the task's regex filter picked it)."""
    prediction = last_number(first_response(results))
    return {"exact_match": float(prediction is not None and prediction == last_number(doc["final_answer"]))}
