"""Continuous metrics on hand-computed log-likelihoods, including 2-, 3- and 4-choice items."""
from __future__ import annotations

import math

import pytest

from contracts.lm_eval_results import RANDOM_BASELINE, task_baselines
from lm_eval_tasks.metrics import (choice_metrics, normalize_answer, normalize_number, process_exact_match,
                                   process_number_match, process_partial_scoring)


def test_two_choice_item_by_hand():
    # p = softmax(log 0.8, log 0.2) = (0.8, 0.2); gold 0.
    m = choice_metrics([math.log(0.8), math.log(0.2)], 0, ["yes", "no"])
    assert m["acc"] == 1.0 and m["correct_choice_prob"] == pytest.approx(0.8)
    assert m["brier_score"] == pytest.approx((1 - 0.8) ** 2 + 0.2 ** 2)  # 0.08
    assert m["gold_nll_per_byte"] == pytest.approx(-math.log(0.8) / 4)  # " yes" is 4 bytes
    assert not any(k.endswith("_random") for k in m)  # baselines are not lm-eval metrics
    assert RANDOM_BASELINE["acc"](2) == 0.5 and RANDOM_BASELINE["brier_score"](2) == 0.5


def test_three_choice_item_by_hand():
    # Unnormalised lls: softmax of (-1, -2, -3) = (0.6652, 0.2447, 0.0900); gold is the middle one.
    m = choice_metrics([-1.0, -2.0, -3.0], 1, ["aa", "b", "cccc"], delimiter="")
    z = math.exp(-1) + math.exp(-2) + math.exp(-3)
    p = [math.exp(-1) / z, math.exp(-2) / z, math.exp(-3) / z]
    assert m["acc"] == 0.0
    assert m["acc_norm"] == 0.0  # per character: -1/2, -2/1, -3/4: the first still wins
    assert m["correct_choice_prob"] == pytest.approx(p[1])
    assert m["brier_score"] == pytest.approx(p[0] ** 2 + (1 - p[1]) ** 2 + p[2] ** 2)
    assert m["gold_nll_per_byte"] == pytest.approx(2.0 / 1)
    assert RANDOM_BASELINE["acc"](3) == pytest.approx(1 / 3) and RANDOM_BASELINE["brier_score"](3) == pytest.approx(2 / 3)


def test_four_choice_uniform_item_scores_exactly_random():
    m = choice_metrics([-2.0] * 4, 3, ["A", "B", "C", "D"])
    assert m["correct_choice_prob"] == pytest.approx(0.25) == RANDOM_BASELINE["correct_choice_prob"](4)
    assert m["brier_score"] == pytest.approx(0.75) == RANDOM_BASELINE["brier_score"](4)


def test_mixed_choice_counts_average_to_the_right_baseline():
    # C3-style: items with 2, 3 and 4 choices; the task's random accuracy is the mean of 1/C.
    # Samples as lm-eval logs them: one request per choice, the metric names process_results returned.
    items = [choice_metrics([-1.0] * c, 0, ["x"] * c) for c in (2, 3, 4)]
    samples = {"c3": [{"arguments": {f"gen_args_{i}": {} for i in range(c)}, "filter": "none", "metrics": list(m)}
                      for c, m in zip((2, 3, 4), items)],
               "gsm8k": [{"arguments": {"gen_args_0": {}}, "filter": f, "metrics": ["exact_match"]}
                         for f in ("strict-match", "flexible-extract") for _ in range(3)],
               "nll": [{"arguments": {"gen_args_0": {}}, "filter": "none", "metrics": ["gold_nll_per_byte"]}]}
    baselines = task_baselines(samples)
    assert baselines["c3"]["acc"] == pytest.approx((1 / 2 + 1 / 3 + 1 / 4) / 3) == baselines["c3"]["acc_norm"]
    assert sum(i["brier_score"] for i in items) / 3 == pytest.approx(baselines["c3"]["brier_score"])  # uniform = random
    assert "gold_nll_per_byte" not in baselines["c3"] and "nll" not in baselines
    assert baselines["gsm8k"] == {"exact_match/strict-match": 0.0, "exact_match/flexible-extract": 0.0}


def test_acc_norm_uses_choice_length():
    # Raw ll prefers the short choice; per character the long one is more likely.
    m = choice_metrics([-3.0, -4.0], 1, ["ab", "abcdefgh"])
    assert m["acc"] == 0.0 and m["acc_norm"] == 1.0


def test_partial_scoring():
    doc = {"gold": 1, "continuation": "always got the harder cases.", "delimiter": " "}
    m = process_partial_scoring(doc, [(-10.0, False), (-9.0, True)])
    assert m["acc"] == 1.0
    assert m["correct_choice_prob"] == pytest.approx(1 / (1 + math.exp(-1)))
    assert m["gold_nll_per_byte"] == pytest.approx(9.0 / len(" always got the harder cases."))


def test_bad_item_is_rejected():
    with pytest.raises(ValueError, match="gold index"):
        choice_metrics([-1.0, -2.0], 2, ["a", "b"])


def test_exact_match_and_numbers():
    assert normalize_answer("The  Nile.") == "nile"
    assert normalize_answer("《西游记》") == "西游记"
    assert process_exact_match({"answers": ["Nile", "River Nile"]}, [" the nile"])["exact_match"] == 1.0
    assert process_exact_match({"answers": ["Nile"]}, ["Amazon"])["exact_match"] == 0.0
    assert normalize_number("$1,234.50.") == "1234.5"
    assert normalize_number("18") == normalize_number("18.0") == "18"
    assert normalize_number("no number") is None
    assert process_number_match({"final_answer": "18"}, ["$18"])["exact_match"] == 1.0
    assert process_number_match({"final_answer": "18"}, ["[invalid]"])["exact_match"] == 0.0
