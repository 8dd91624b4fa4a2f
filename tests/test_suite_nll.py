"""The `*_nll` tasks score exactly the string their few-shot exemplars show after the answer cue, and
count bytes and tokens on exactly that string (lm-eval 0.4.x gives loglikelihood targets no delimiter)."""
from __future__ import annotations

import json
import re
import shutil

import pytest

from lm_eval_tasks.evaluate import per_token_rows, task_manager
from contracts.run_dir import CheckpointRef
from tests.conftest import SUITE_FIXTURES

# task -> (answer cue, fixture folder, few-shot split, eval split, form every answer takes, or None when the
# exemplars are rows of the few-shot split and so must read exactly what the same row scores)
NLL = {
    "es_triviaqa_nll": ("\nAnswer:", "es_triviaqa", "train", "validation", None),
    "es_nlpcc_kbqa_nll": ("\n答案：", "es_nlpcc_kbqa", "train", "test", None),
    "es_gsm8k_nll": ("\nA:", "es_gsm8k", None, "test", r" \S.* The answer is -?\d+\."),
    "es_gsm8k_zh_nll": ("\n回答：", "es_gsm8k_zh", None, "test", r"答案是 -?\d+。"),
}
MINI = ["es_mini_facts_nll", "es_mini_add_nll", "es_mini_copy_nll"]


def requests_of(names, monkeypatch, data):
    monkeypatch.setenv("EMERGENT_SUITE_DATA", str(data))
    out = {}
    for name, task in task_manager().load(names)["tasks"].items():
        task.build_all_requests(limit=None, rank=0, world_size=1)
        out[name] = (task, [inst.arguments[:2] for inst in sorted(task.instances, key=lambda i: i.doc_id)])
    return out


@pytest.fixture(scope="module")
def nll_data(tmp_path_factory):
    """The fixtures, with each few-shot split also evaluated, so an exemplar's row is scored too."""
    root = tmp_path_factory.mktemp("nll_data")
    for task, (_, folder, shots, split, _) in NLL.items():
        shutil.copytree(SUITE_FIXTURES / folder, root / folder, dirs_exist_ok=True)
        if shots:
            with open(root / folder / f"{split}.jsonl", "a", encoding="utf-8") as fh:
                fh.write((SUITE_FIXTURES / folder / f"{shots}.jsonl").read_text(encoding="utf-8"))
    return root


@pytest.fixture(scope="module")
def nll_requests(nll_data):
    mp = pytest.MonkeyPatch()
    try:
        return requests_of(list(NLL), mp, nll_data)
    finally:
        mp.undo()


def exemplar_answers(context: str, cue: str) -> dict[str, str]:
    """question block -> what follows the cue, for every exemplar of a rendered few-shot context."""
    shots = context.split("\n\n")[:-1]  # the last block is the item's own question
    return dict(shot.split(cue, 1) for shot in shots)


@pytest.mark.parametrize("name", list(NLL))
def test_scored_continuation_is_what_the_exemplars_show(nll_requests, name):
    cue, _, shots, _, form = NLL[name]
    task, requests = nll_requests[name]
    shown: dict[str, str] = {}
    for context, continuation in requests:
        assert context.endswith(cue) and not context.endswith(" ")
        shown.update(exemplar_answers(context, cue))
        if form:
            assert re.fullmatch(form, continuation), continuation
    assert len(shown) == task.config.num_fewshot
    if form:
        assert all(re.fullmatch(form, answer) for answer in shown.values()), shown
    else:  # the rows that served as exemplars are scored too: same string, space included
        scored = {context.rsplit("\n\n", 1)[-1][: -len(cue)]: continuation for context, continuation in requests}
        for question, answer in shown.items():
            assert scored[question] == answer


@pytest.mark.parametrize("name", list(NLL))
def test_bytes_and_tokens_count_exactly_the_scored_string(nll_requests, suite_model, name):
    from lm_eval.models.huggingface import HFLM
    from transformers import AutoTokenizer

    task, requests = nll_requests[name]
    docs = list(task.eval_docs)
    tok = AutoTokenizer.from_pretrained(suite_model)
    lm = HFLM(pretrained=str(suite_model), dtype="float32", device="cpu", batch_size=1)
    lls = [-3.0 - i for i in range(len(requests))]
    for doc, (context, continuation), ll in zip(docs, requests, lls):
        assert task.process_results(doc, [(ll, False)])["gold_nll_per_byte"] == -ll / len(continuation.encode("utf-8"))
    samples = [{"arguments": [pair], "filtered_resps": [(ll, False)], "metrics": ["gold_nll_per_byte"]}
               for pair, ll in zip(requests, lls)]
    ref = CheckpointRef(run="r", checkpoint="c", path=suite_model, step=1, params=1, params_nonembedding=1, tokens=1, loss=1.0)
    (row,) = per_token_rows(ref, lm, {name: samples})
    counts = [len(tok(c + a).input_ids) - len(tok(c).input_ids) for c, a in requests]
    assert row["value"] == pytest.approx(sum(-ll / n for ll, n in zip(lls, counts)) / len(lls), rel=1e-12)


def test_mini_nll_scores_the_answer_as_the_study_writes_it(tmp_path, monkeypatch):
    """The study's items read f"{prompt} {answer}" (study/world.py), so " answer" is scored after the prompt."""
    items = {"es_mini_facts": [{"prompt": "Q: What is the capital of Avalon?\nA:", "answer": "Camelot"}],
             "es_mini_add": [{"prompt": "12 + 30 =", "answer": "42"}],
             "es_mini_copy": [{"prompt": "copy: a, b ->", "answer": "a, b"}]}
    for task, rows in items.items():
        (tmp_path / f"{task}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setenv("EMERGENT_MINI_DATA", str(tmp_path))
    for name, task in task_manager().load(MINI)["tasks"].items():
        task.build_all_requests(limit=None, rank=0, world_size=1)
        (inst,) = task.instances
        row = items[name.removesuffix("_nll")][0]
        assert inst.arguments[:2] == (row["prompt"], " " + row["answer"])
