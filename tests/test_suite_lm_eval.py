"""The suite through real lm-eval: Python API, the literal CLI, `emergent eval`, and clear errors."""
from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lm_eval.utils import make_table

from contracts.lm_eval_results import task_baselines
from lm_eval_tasks import TASK_DIR
from contracts.eval_table import COLUMNS, WHERE, EvalTableError, check_limits, read_eval_table
from lm_eval_tasks.evaluate import expand_tasks, outputs_dir, task_manager
from lm_eval_tasks.sources import DatasetMissing
from tests.conftest import SUITE_FIXTURES, run_cli, tiny_config
from contracts.atomic import read_jsonl
from trainer.loop import train

BIN = Path(sys.executable).parent
MC = {"acc", "correct_choice_prob", "brier_score", "gold_nll_per_byte"}
REAL_METRICS = MC | {"acc_norm", "exact_match"}  # what a leaderboard reading results_*.json may list as scores


@pytest.fixture()
def suite_without_clozet(tmp_path, monkeypatch):
    """The fixtures minus ClozeT, which has no public copy: what most researchers have."""
    root = tmp_path / "data"
    shutil.copytree(SUITE_FIXTURES, root, ignore=shutil.ignore_patterns("es_clozet"))
    monkeypatch.setenv("EMERGENT_SUITE_DATA", str(root))
    monkeypatch.delenv("EMERGENT_SUITE_CLOZET", raising=False)
    return root


def test_whole_suite_runs_through_lm_eval_with_one_dataset_absent(suite_without_clozet, suite_model, caplog):
    import lm_eval

    manager = task_manager()
    tasks = expand_tasks(manager, ["emergent_suite"])
    assert len(tasks) == 16 and len([t for t in tasks if not t.endswith("_nll")]) == 12
    with caplog.at_level(logging.WARNING, logger="lm_eval_tasks"):
        out = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={suite_model},dtype=float32",
                                      tasks=["emergent_suite"], task_manager=manager, limit=3, batch_size=4, device="cpu",
                                      log_samples=True, bootstrap_iters=100)
    warnings = [r.getMessage() for r in caplog.records if r.name == "lm_eval_tasks"]
    assert len(warnings) == 1 and warnings[0].startswith("es_clozet: skipped, data missing")
    assert "EMERGENT_SUITE_CLOZET=DIR" in warnings[0] and str(suite_without_clozet / "es_clozet" / "val.jsonl") in warnings[0]
    assert "\n" not in warnings[0]
    results = out["results"]
    assert "es_clozet" not in results
    for task in (t for t in tasks if t != "es_clozet"):
        keys = {k.split(",")[0] for k in results[task]}
        if task.endswith("_nll"):
            assert "gold_nll_per_byte" in keys, task
        elif task in ("es_triviaqa", "es_nlpcc_kbqa", "es_gsm8k", "es_gsm8k_zh"):
            assert {"exact_match"} <= keys, task
        else:
            assert MC <= keys, task
    # Random baselines are no lm-eval metrics: lm-eval's own table (what `lm_eval` prints and leaderboards read)
    # lists only real scores; the baselines come from the scored items, for the eval table.
    listed = [line.split("|")[5].strip() for line in make_table(out).splitlines()[2:] if line.count("|") > 8]
    assert listed and set(listed) - {""} <= REAL_METRICS, set(listed)
    assert all(m in REAL_METRICS for t in out["higher_is_better"].values() for m in t), out["higher_is_better"]
    baselines = task_baselines(out["samples"])
    assert baselines["es_c3"]["acc"] == pytest.approx((1 / 4 + 1 / 2 + 1 / 3) / 3)  # 4, 2 and 3 choices
    assert baselines["es_hellaswag"]["brier_score"] == pytest.approx(0.75)
    assert baselines["es_winogrande"]["acc"] == pytest.approx(0.5)
    assert baselines["es_gsm8k"] == {"exact_match/strict-match": 0.0, "exact_match/flexible-extract": 0.0}
    assert set(results["es_gsm8k"]) >= {"exact_match,strict-match", "exact_match,flexible-extract"}
    for task in results:
        for key, value in results[task].items():
            if key.startswith(("correct_choice_prob,", "acc,")):
                assert 0.0 <= value <= 1.0


def test_lm_eval_cli_finds_the_suite_without_include_path(tmp_path, suite_model):
    data = tmp_path / "data"
    shutil.copytree(SUITE_FIXTURES, data, ignore=shutil.ignore_patterns("es_clozet"))
    env = {**os.environ, "EMERGENT_SUITE_DATA": str(data), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    env.pop("EMERGENT_SUITE_CLOZET", None)
    listing = subprocess.run([str(BIN / "lm_eval"), "ls", "tasks"], capture_output=True, text=True, env=env, timeout=600)
    assert listing.returncode == 0, listing.stderr[-2000:]
    assert "emergent_suite" in listing.stdout and "es_gsm8k_zh" in listing.stdout

    # The literal command of a researcher who has 11 of the 12 datasets: results for the 11, one warning.
    run = subprocess.run([str(BIN / "lm_eval"), "--model", "hf", "--model_args", f"pretrained={suite_model},dtype=float32",
                          "--tasks", "emergent_suite", "--limit", "1", "--device", "cpu", "--batch_size", "4"],
                         capture_output=True, text=True, env=env, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    for task in ("es_mmlu", "es_ceval", "es_c3", "es_gsm8k_zh_nll"):
        assert task in run.stdout
    assert "es_clozet" not in run.stdout
    assert len([line for line in run.stderr.splitlines() if "es_clozet: skipped, data missing" in line]) == 1

    # A task named on its own still fails with the message: test_official_files_combine_... (Python API).


def test_package_prints_task_folder_and_hook_is_light():
    printed = subprocess.run([sys.executable, "-m", "lm_eval_tasks"], capture_output=True, text=True, check=True)
    assert printed.stdout.strip() == str(TASK_DIR)
    probe = subprocess.run([sys.executable, "-c", "import sys; print('lm_eval' in sys.modules, "
                            "'lm_eval_tasks._autoload' in sys.modules)"], capture_output=True, text=True, check=True)
    assert probe.stdout.split() == ["False", "True"]  # the hook is installed, lm-eval is not imported by it


def test_missing_dataset_names_hub_id_and_local_path(tmp_path, monkeypatch):
    monkeypatch.setenv("EMERGENT_SUITE_DATA", str(tmp_path))
    with pytest.raises(DatasetMissing) as err:
        task_manager().load(["es_mmlu"])
    assert "cais/mmlu" in str(err.value) and str(tmp_path / "es_mmlu" / "dev.jsonl") in str(err.value)

    monkeypatch.delenv("EMERGENT_SUITE_DATA")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(DatasetMissing) as err:
        task_manager().load(["es_hellaswag"])
    assert "Rowan/hellaswag" in str(err.value) and "EMERGENT_SUITE_DATA" in str(err.value)
    monkeypatch.delenv("EMERGENT_SUITE_NLPCC_KBQA", raising=False)
    with pytest.raises(DatasetMissing, match="EMERGENT_SUITE_NLPCC_KBQA"):
        task_manager().load(["es_nlpcc_kbqa"])


@pytest.mark.parametrize("task,folder,split", [("es_triviaqa", "es_triviaqa", "train"), ("es_race", "es_race", "train"),
                                              ("es_c3", "es_c3", "train"), ("es_nlpcc_kbqa", "es_nlpcc_kbqa", "train")])
def test_missing_few_shot_split_names_the_file(tmp_path, monkeypatch, task, folder, split):
    shutil.copytree(SUITE_FIXTURES / folder, tmp_path / folder)
    (tmp_path / folder / f"{split}.jsonl").unlink()
    monkeypatch.setenv("EMERGENT_SUITE_DATA", str(tmp_path))
    monkeypatch.delenv("EMERGENT_SUITE_NLPCC_KBQA", raising=False)
    with pytest.raises(DatasetMissing) as err:
        task_manager().load([task])
    message = str(err.value)
    assert message.startswith(f"{task}: {tmp_path / folder / f'{split}.jsonl'} does not exist") and "\n" not in message


def test_official_files_combine_with_local_jsonl_and_messages_name_real_sources(tmp_path, monkeypatch):
    """EMERGENT_SUITE_DATA for the hub datasets plus the official NLPCC and LOT files, at once."""
    data, nlpcc, lot = tmp_path / "data", tmp_path / "nlpcc", tmp_path / "lot"
    shutil.copytree(SUITE_FIXTURES / "es_hellaswag", data / "es_hellaswag")
    nlpcc.mkdir()
    lot.mkdir()
    record = "<question id=1>\t长城位于哪个国家？\n<triple id=1>\t长城 ||| 国家 ||| 中国\n<answer id=1>\t中国\n"
    for name in ("nlpcc-iccpol-2016.kbqa.training-data", "nlpcc-iccpol-2016.kbqa.testing-data"):
        (nlpcc / name).write_text(record, encoding="utf-8")
    shutil.copy(SUITE_FIXTURES / "es_clozet" / "val.jsonl", lot / "val.jsonl")
    monkeypatch.setenv("EMERGENT_SUITE_DATA", str(data))
    monkeypatch.setenv("EMERGENT_SUITE_NLPCC_KBQA", str(nlpcc))
    monkeypatch.setenv("EMERGENT_SUITE_CLOZET", str(lot))
    tasks = task_manager().load(["es_hellaswag", "es_nlpcc_kbqa", "es_clozet"])["tasks"]
    assert [len(list(tasks[t].eval_docs)) for t in ("es_hellaswag", "es_nlpcc_kbqa", "es_clozet")] == [3, 1, 3]

    monkeypatch.delenv("EMERGENT_SUITE_CLOZET")
    with pytest.raises(DatasetMissing) as err:
        task_manager().load(["es_clozet"])
    message = str(err.value)
    assert str(data / "es_clozet" / "val.jsonl") in message and "EMERGENT_SUITE_CLOZET=DIR" in message
    assert "hub" not in message  # ClozeT has no hub copy: no message may send anyone there
    monkeypatch.delenv("EMERGENT_SUITE_DATA")
    monkeypatch.delenv("EMERGENT_SUITE_NLPCC_KBQA")
    with pytest.raises(DatasetMissing) as err:
        task_manager().load(["es_nlpcc_kbqa"])
    assert "no hub copy" in str(err.value) and "from the hub" not in str(err.value)
    assert "EMERGENT_SUITE_NLPCC_KBQA=DIR" in str(err.value) and "es_nlpcc_kbqa/{train,test}.jsonl" in str(err.value)


def test_nlpcc_official_files_are_parsed(tmp_path, monkeypatch):
    record = ("<question id=1>\t《西游记》的作者是谁？\n<triple id=1>\t西游记 ||| 作者 ||| 吴承恩\n<answer id=1>\t吴承恩\n"
              + "=" * 50 + "\n<question id=2>\t长城位于哪个国家？\n<triple id=2>\t长城 ||| 国家 ||| 中国\n<answer id=2>\t中国\n" + "=" * 50 + "\n")
    (tmp_path / "nlpcc-iccpol-2016.kbqa.testing-data").write_text(record, encoding="utf-8")
    (tmp_path / "nlpcc-iccpol-2016.kbqa.training-data").write_text(record, encoding="utf-8")
    monkeypatch.delenv("EMERGENT_SUITE_DATA", raising=False)
    monkeypatch.setenv("EMERGENT_SUITE_NLPCC_KBQA", str(tmp_path))
    task = task_manager().load(["es_nlpcc_kbqa"])["tasks"]
    docs = list(next(iter(task.values())).test_docs())
    assert [d["question"] for d in docs] == ["《西游记》的作者是谁？", "长城位于哪个国家？"] and docs[0]["answer"] == "吴承恩"


def test_emergent_eval_builds_the_table(tmp_path, data_dir, suite_data):
    cfg = tiny_config(data_dir, tokens=1024 * 12, log_interval=4)
    cfg.model.max_seq_len = 512
    cfg.checkpoints.log_spaced = 1
    cfg.checkpoints.every_tokens = 1024 * 6
    run = tmp_path / "run"
    train(cfg, run, progress=False)
    ckpts = read_jsonl(run / "checkpoints.jsonl")
    names = [f"step_{c['step']:08d}" for c in ckpts]
    table = tmp_path / "eval.csv"
    env = {"EMERGENT_SUITE_DATA": str(SUITE_FIXTURES)}
    tasks = "es_hellaswag,es_c3,es_gsm8k_nll"
    first = run_cli("eval", str(run), "--tasks", tasks, "--table", str(table), "--limit", "2", env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    with open(table, newline="") as fh:
        assert next(csv.reader(fh)) == COLUMNS
    rows = read_eval_table(table)
    assert {(r["checkpoint"], r["task"]) for r in rows} == {(n, t) for n in names for t in tasks.split(",")}
    from importlib.metadata import version

    assert {r["limit"] for r in rows} == {"2"} and {r["lm_eval_version"] for r in rows} == {version("lm_eval")}
    assert {(r["task"], r["num_fewshot"], r["task_version"]) for r in rows} == {
        ("es_hellaswag", "0", "1.0"), ("es_c3", "2", "1.0"), ("es_gsm8k_nll", "8", "2.0")}
    direction = {r["metric"]: r["higher_is_better"] for r in rows}
    assert direction == {"acc": "true", "acc_norm": "true", "correct_choice_prob": "true", "brier_score": "false",
                         "gold_nll_per_byte": "false", "gold_nll_per_token": "false"}
    # The generative companion gets the per-token NLL next to the per-byte one; a token holds >= 1 byte.
    nll = {(r["checkpoint"], r["metric"]): float(r["value"]) for r in rows if r["task"] == "es_gsm8k_nll"}
    for name in names:
        assert nll[(name, "gold_nll_per_token")] > nll[(name, "gold_nll_per_byte")] > 0
    acc = [r for r in rows if r["metric"] == "acc" and r["task"] == "es_hellaswag"]
    assert len(acc) == len(ckpts) and all(float(r["random_baseline"]) == 0.25 for r in acc)
    assert all(r["random_baseline"] == "" for r in rows if r["metric"].startswith("gold_nll"))
    by_step = {c["step"]: c for c in ckpts}
    for r in rows:
        assert float(r["loss"]) == by_step[int(r["step"])]["val_loss"] and int(r["params"]) == by_step[int(r["step"])]["params"]
    assert not any(r["metric"].endswith("_random") for r in rows)

    # lm-eval's own outputs, in its layout, per checkpoint: aggregated JSON and every item.
    for name in names:
        folder = outputs_dir(table) / f"run__{name}"
        (results,) = folder.glob("results_*.json")
        aggregated = json.loads(results.read_text())
        assert set(aggregated["results"]) == set(tasks.split(",")) and aggregated["config"]["limit"] == 2
        for task in tasks.split(","):
            (samples,) = folder.glob(f"samples_{task}_*.jsonl")
            items = [json.loads(line) for line in samples.read_text().splitlines()]
            assert [i["doc_id"] for i in items] == [0, 1] and all("arguments" in i and "resps" in i for i in items)

    again = run_cli("eval", str(run), "--tasks", tasks, "--table", str(table), "--limit", "2", env=env)
    assert again.returncode == 0 and "0 rows appended" in again.stdout
    # A full run does not take the limited rows for done: it evaluates, warns and marks its rows.
    full = run_cli("eval", str(run), "--tasks", "es_hellaswag", "--table", str(table), env=env)
    assert full.returncode == 0, full.stderr[-3000:]
    assert full.stdout.count("already has rows from limit 2") == len(ckpts)
    rows = read_eval_table(table)
    assert {r["limit"] for r in rows if r["task"] == "es_hellaswag"} == {"2", ""}
    with pytest.raises(EvalTableError) as err:
        check_limits(rows)
    assert "es_hellaswag/acc mixes rows from different evaluations (full, limit=2)" in str(err.value)
    assert "\n" not in str(err.value)
    check_limits([r for r in rows if r["limit"] == ""])  # one kind of row: accepted
    bad = run_cli("eval", str(run), "--tasks", "no_such_task", "--table", str(table), env=env)
    assert bad.returncode == 2 and "unknown task 'no_such_task'" in bad.stderr


def test_old_eval_tables_still_read(tmp_path):
    old = tmp_path / "old.csv"
    old.write_text("run,checkpoint,step,params,tokens,loss,task,metric,value,stderr,random_baseline\n"
                   "r,step_1,1,10,100,3.0,es_mmlu,acc,0.3,0.01,0.25\n")
    (row,) = read_eval_table(old)
    assert row["value"] == "0.3" and row["limit"] == "" and row["higher_is_better"] == "" and list(row)[:16] == COLUMNS
    from analysis.io import read_table

    assert read_table(old) == [row]
    (tmp_path / "other.csv").write_text("model,loss\nx,2.0\n")
    assert read_table(tmp_path / "other.csv") == [{"model": "x", "loss": "2.0", WHERE: f"{tmp_path / 'other.csv'}:2"}]


def test_per_token_nll_counts_the_checkpoints_answer_tokens(suite_model):
    """Token counts follow lm-eval's split: encode context + answer, drop the context's tokens, with a
    trailing space of the context moved onto the answer."""
    from lm_eval.models.huggingface import HFLM
    from transformers import AutoTokenizer

    from lm_eval_tasks.evaluate import per_token_rows
    from contracts.run_dir import CheckpointRef

    tok = AutoTokenizer.from_pretrained(suite_model)
    lm = HFLM(pretrained=str(suite_model), dtype="float32", device="cpu", batch_size=1)
    pairs = [("Question: Which city?\nAnswer:", " Paris"), ("问题：答案是", "四十二"), ("Answer: ", "72")]
    lls = [-6.0, -9.0, -4.0]
    samples = [{"arguments": [pair], "filtered_resps": [(ll, False)], "metrics": ["gold_nll_per_byte"]} for pair, ll in zip(pairs, lls)]
    ref = CheckpointRef(run="r", checkpoint="step_1", path=suite_model, step=1, params=1, params_nonembedding=1, tokens=1, loss=3.0)
    (row,) = per_token_rows(ref, lm, {"es_x_nll": samples, "es_mc": [{"arguments": [pairs[0], pairs[1]], "metrics": ["gold_nll_per_byte"]}]})

    def n_answer_tokens(context, answer):
        moved = len(context) - len(context.rstrip())
        context, answer = context[: len(context) - moved], context[len(context) - moved:] + answer
        return len(tok(context + answer).input_ids) - len(tok(context).input_ids)

    counts = [n_answer_tokens(*pair) for pair in pairs]
    assert all(c >= 1 for c in counts)
    expected = [-ll / c for ll, c in zip(lls, counts)]
    assert row["task"] == "es_x_nll" and row["metric"] == "gold_nll_per_token"
    assert abs(row["value"] - sum(expected) / 3) < 1e-12


def test_emergent_eval_leaves_out_grouped_tasks_without_data_but_not_named_ones(suite_without_clozet):
    from lm_eval_tasks.evaluate import available_tasks, select_tasks

    manager = task_manager()
    said = []
    kept = available_tasks(manager, select_tasks(manager, ["emergent_suite_zh"]), log=said.append)
    assert "es_clozet" not in kept and {"es_cluewsc", "es_c3", "es_ceval", "es_gsm8k_zh_nll"} <= set(kept)
    assert len(said) == 1 and said[0].startswith("warning: es_clozet: skipped, data missing -- ")
    assert "EMERGENT_SUITE_CLOZET=DIR" in said[0]
    named = available_tasks(manager, select_tasks(manager, ["emergent_suite_zh", "es_clozet"]), log=said.append)
    assert "es_clozet" in named  # named on its own: evaluating it raises DatasetMissing with the same message
