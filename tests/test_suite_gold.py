"""Every fixture item of every task: its gold answer, read independently from the raw hub-schema row.

The expected gold below is written from each dataset's own schema (loading scripts, dataset cards,
lm-eval's YAMLs for the same data), never through the task's utils: a ClassLabel int, a "0".."3"
string, a letter or the answer's text. Each item is rendered by lm-eval (build_all_requests) and scored
by the task's process_results with log-likelihoods that favour the independently read gold, so a
misread label fails here (CLUEWSC's `1 == True` did).
"""
from __future__ import annotations

import json
from collections import defaultdict

import pytest

from lm_eval_tasks.evaluate import task_manager
from tests.conftest import SUITE_FIXTURES

MGSM_FIXTURES = SUITE_FIXTURES / "mgsm_zh_fallback"  # juletxara/mgsm zh rows, as their own data root


def rows(task: str, split: str, root=SUITE_FIXTURES) -> list[dict]:
    return [json.loads(line) for line in (root / task / f"{split}.jsonl").read_text(encoding="utf-8").splitlines() if line]


def gsm8k_final(answer: str) -> str:
    return answer.split("####")[1].strip().replace(",", "")


# task -> (data folder, eval split, kind, independent reading of the gold from one raw row)
#   choice:  the gold continuation (what follows the prompt in the request of the right choice)
#   context: the gold context (partial scoring: the right option filled into the blank)
#   answer:  a response that must score exact_match 1
#   nll:     the scored continuation
CLUEWSC = {0: "是", 1: "否"}  # ClassLabel(names=["true", "false"]) in the `clue` loading script
READERS = {
    "es_hellaswag": ("es_hellaswag", "validation", "choice", lambda r: " " + r["endings"][int(r["label"])].strip()),
    "es_race": ("es_race", "test", "choice", lambda r: " " + r["options"][ord(r["answer"]) - ord("A")]),
    "es_mmlu": ("es_mmlu", "test", "choice", lambda r: " " + "ABCD"[r["answer"]]),
    "es_cluewsc": ("es_cluewsc", "validation", "choice", lambda r: CLUEWSC[r["label"]]),
    "es_c3": ("es_c3", "validation", "choice", lambda r: r["answer"]),
    "es_ceval": ("es_ceval", "val", "choice", lambda r: r["answer"]),
    "es_winogrande": ("es_winogrande", "validation", "context",
                      lambda r: r["sentence"].split("_")[0] + (r["option1"] if r["answer"] == "1" else r["option2"])),
    "es_clozet": ("es_clozet", "val", "context",
                  lambda r: r["story"].split("<mask>")[0] + (r["plot0"] if r["label"] == "0" else r["plot1"])),
    "es_triviaqa": ("es_triviaqa", "validation", "answer", lambda r: r["answer"]["aliases"][-1]),
    "es_nlpcc_kbqa": ("es_nlpcc_kbqa", "test", "answer", lambda r: r["answer"]),
    "es_gsm8k": ("es_gsm8k", "test", "answer", lambda r: gsm8k_final(r["answer"])),
    "es_gsm8k_zh": ("es_gsm8k_zh", "test", "answer", lambda r: gsm8k_final(r["answer"])),
    "es_triviaqa_nll": ("es_triviaqa", "validation", "nll", lambda r: " " + r["answer"]["value"]),
    "es_nlpcc_kbqa_nll": ("es_nlpcc_kbqa", "test", "nll", lambda r: r["answer"]),
    "es_gsm8k_nll": ("es_gsm8k", "test", "nll", lambda r: f"The answer is {gsm8k_final(r['answer'])}."),
    "es_gsm8k_zh_nll": ("es_gsm8k_zh", "test", "nll", lambda r: f"答案是 {gsm8k_final(r['answer'])}。"),
}
BINARY_LABELS = {"es_cluewsc": ("label", {0, 1}), "es_winogrande": ("answer", {"1", "2"}), "es_clozet": ("label", {"0", "1"})}


def rendered(names: list[str], data, monkeypatch) -> dict:
    """task -> (docs, requests per doc) for every item, as lm-eval builds them."""
    monkeypatch.setenv("EMERGENT_SUITE_DATA", str(data))
    out = {}
    for name, task in task_manager().load(names)["tasks"].items():
        task.build_all_requests(limit=None, rank=0, world_size=1)
        per_doc = defaultdict(list)
        for inst in sorted(task.instances, key=lambda i: (i.doc_id, i.idx)):
            per_doc[inst.doc_id].append(inst)
        docs = list(task.eval_docs)
        out[name] = (task, docs, [per_doc[i] for i in range(len(docs))])
    return out


@pytest.fixture(scope="module")
def every_item():
    mp = pytest.MonkeyPatch()
    try:
        return rendered(list(READERS), SUITE_FIXTURES, mp)
    finally:
        mp.undo()


def check_item(task, kind, doc, requests, expected):
    if kind == "choice":
        continuations = [r.arguments[1] for r in requests]
        assert continuations.count(expected) == 1, (expected, continuations)
        right = continuations.index(expected)
        assert task.doc_to_target(doc) == right
        lls = [(0.0 if i == right else -5.0, False) for i in range(len(requests))]
        metrics = task.process_results(doc, lls)
        assert metrics["acc"] == 1.0 and metrics["correct_choice_prob"] > 0.5
        wrong = [(0.0 if i == (right + 1) % len(requests) else -5.0, False) for i in range(len(requests))]
        assert task.process_results(doc, wrong)["acc"] == 0.0
    elif kind == "context":
        contexts = [r.arguments[0] for r in requests]
        assert contexts.count(expected) == 1, (expected, contexts)
        right = contexts.index(expected)
        assert len({r.arguments[1] for r in requests}) == 1  # one continuation scored after each context
        assert task.process_results(doc, [(0.0 if i == right else -5.0, False) for i in range(len(requests))])["acc"] == 1.0
        assert task.process_results(doc, [(-5.0 if i == right else 0.0, False) for i in range(len(requests))])["acc"] == 0.0
    elif kind == "answer":
        (request,) = requests
        assert request.request_type == "generate_until"
        assert task.process_results(doc, [expected])["exact_match"] == 1.0
        assert task.process_results(doc, ["-1"])["exact_match"] == 0.0
    else:
        (request,) = requests
        assert request.request_type == "loglikelihood"
        continuation = request.arguments[1]
        assert continuation.endswith(expected) and continuation.strip() == continuation.lstrip(" ").strip()
        if task.config.task in ("es_triviaqa_nll", "es_nlpcc_kbqa_nll", "es_gsm8k_zh_nll"):
            assert continuation == expected


@pytest.mark.parametrize("name", list(READERS))
def test_every_item_has_the_gold_of_its_raw_row(every_item, name):
    folder, split, kind, gold_of = READERS[name]
    raw = rows(folder, split)
    task, docs, requests = every_item[name]
    assert len(docs) == len(raw) >= 2
    for row, doc, reqs in zip(raw, docs, requests):
        check_item(task, kind, doc, reqs, gold_of(row))


@pytest.mark.parametrize("name", list(BINARY_LABELS))
def test_binary_fixtures_hold_both_labels_in_hub_types(name):
    field, values = BINARY_LABELS[name]
    folder, split, _, _ = READERS[name]
    labels = [row[field] for row in rows(folder, split)]
    assert set(labels) == values and all(type(v) is type(next(iter(values))) for v in labels)


def test_cluewsc_reads_classlabel_ints_and_clue_strings_strictly():
    from lm_eval_tasks.labels import class_index

    names = ["true", "false"]
    assert [class_index(v, names, "t") for v in (0, 1, "true", "false")] == [0, 1, 0, 1]
    for bad in (True, False, -1, "0", 2):  # bools are not ClassLabel ints; -1 is an unlabelled test row
        with pytest.raises(ValueError):
            class_index(bad, names, "t")


def test_gsm8k_zh_reads_the_mgsm_fallback_schema(monkeypatch):
    """juletxara/mgsm zh rows: question, answer: null, answer_number, equation_solution."""
    got = rendered(["es_gsm8k_zh", "es_gsm8k_zh_nll"], MGSM_FIXTURES, monkeypatch)
    raw = rows("es_gsm8k_zh", "test", MGSM_FIXTURES)
    assert all(r["answer"] is None for r in raw)
    task, docs, requests = got["es_gsm8k_zh"]
    for row, doc, (request,) in zip(raw, docs, requests):
        assert request.arguments[0].endswith(f"问题：{row['question']}\n回答：")
        assert task.process_results(doc, [f"答案是 {row['answer_number']}"])["exact_match"] == 1.0
    task, docs, requests = got["es_gsm8k_zh_nll"]
    assert [r[0].arguments[1] for r in requests] == [f"答案是 {row['answer_number']}。" for row in raw]
