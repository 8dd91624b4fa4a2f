"""`emergent convert lm-eval`: lm-eval output folders of any checkpoints into the eval table. Checked on the
folders `emergent eval` itself writes (the same rows as its own table) and on hand-written folders in lm-eval
0.4's exact results schema (lm_eval/result_schema.py: groups in `results` and `groups`, aliases, `acc,none` keys,
filters, "N/A" stderrs of bootstrap_iters=0, a --limit, a checkpoint evaluated twice)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from contracts.eval_table import read_eval_table
from tests.conftest import run_cli

PER_TOKEN = "gold_nll_per_token"  # computed by `emergent eval` from the samples, not in lm-eval's results


def _rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_outputs_of_emergent_eval_convert_to_its_own_table(smoke_study, tmp_path):
    out, _ = smoke_study
    table = tmp_path / "converted.csv"
    result = run_cli("convert", "lm-eval", str(out / "eval_lm_eval"), "--out", str(table))
    assert result.returncode == 0, result.stderr
    ours = [r for r in _rows(out / "eval.csv") if r["metric"] != PER_TOKEN]
    converted = _rows(table)
    assert len(converted) == len(ours) > 50
    key = lambda r: (r["run"], r["checkpoint"], r["task"], r["metric"])  # noqa: E731
    assert sorted(converted, key=key) == sorted(ours, key=key)  # every column of every row: loss from config.json
    assert f"{len(converted)} rows" in result.stdout


def _results(model: str, tasks: dict, *, limit=None, extra: dict | None = None) -> dict:
    """lm-eval 0.4's aggregated output as simple_evaluate writes it for `--model hf --model_args pretrained=...`."""
    higher = {t: {k.split(",")[0]: not k.startswith(("brier", "perplexity", "word_perplexity")) for k in m if "," in k
                  and "_stderr" not in k} for t, m in tasks.items()}
    return {
        "results": {t: {"alias": m.pop("alias", t), **m} for t, m in tasks.items()},
        **(extra or {}),
        "configs": {t: {"task": t, "num_fewshot": 5 if t.startswith("mmlu_") else 0} for t in tasks},
        "versions": {t: ("N/A" if t in ("mmlu", "mmlu_stem") else 1.0) for t in tasks},
        "n-shot": {t: (5 if t.startswith("mmlu_") else 0) for t in tasks},
        "higher_is_better": higher,
        "n-samples": {t: {"original": 1000, "effective": limit or 1000} for t in tasks if not t.startswith("mmlu_s")},
        "config": {"model": "hf", "model_args": f"pretrained={model},dtype=bfloat16", "model_num_parameters": 160_000_000,
                   "model_dtype": "torch.bfloat16", "batch_size": "16", "batch_sizes": [], "device": "cuda:0",
                   "limit": limit, "bootstrap_iters": 100000, "gen_kwargs": None, "random_seed": 0},
        "git_hash": "a1b2c3d", "date": 1733600000.0, "transformers_version": "4.46.3", "lm_eval_version": "0.4.5",
        "model_source": "hf", "model_name": model, "model_name_sanitized": model.replace("/", "__"),
    }


MMLU = {
    "mmlu": {"alias": "mmlu", "acc,none": 0.262, "acc_stderr,none": 0.0037},
    "mmlu_stem": {"alias": " - stem", "acc,none": 0.25, "acc_stderr,none": 0.0077},
    "mmlu_abstract_algebra": {"alias": "  - abstract_algebra", "acc,none": 0.22, "acc_stderr,none": 0.0416},
    "mmlu_anatomy": {"alias": "  - anatomy", "acc,none": 0.2815, "acc_stderr,none": 0.0389},
}
GROUPS = {"groups": {"mmlu": {"alias": "mmlu", "acc,none": 0.262, "acc_stderr,none": 0.0037, "sample_count": {"acc,none": 270}},
                     "mmlu_stem": {"alias": " - stem", "acc,none": 0.25, "acc_stderr,none": 0.0077}},
          "group_subtasks": {"mmlu_stem": ["mmlu_abstract_algebra", "mmlu_anatomy"], "mmlu": ["mmlu_stem"]}}


def _write(root: Path, model: str, stamp: str, body: dict) -> Path:
    folder = root / model.replace("/", "__")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"results_{stamp}.json"
    path.write_text(json.dumps(body, indent=2))
    (folder / f"samples_hellaswag_{stamp}.jsonl").write_text('{"doc_id": 0}\n')  # lm-eval's other output: ignored
    return path


@pytest.fixture()
def lab_outputs(tmp_path):
    """Two checkpoints of one run and a second model, as a lab's lm-eval CLI runs leave them."""
    root = tmp_path / "lm_eval_out"
    step1k, step2k, other = "org/pythia-160m-step1000", "org/pythia-160m-step2000", "/ckpts/other-70m"
    _write(root, step1k, "2024-12-01T10-00-00.000001", _results(step1k, {
        "hellaswag": {"acc,none": 0.27, "acc_stderr,none": 0.0044, "acc_norm,none": 0.28, "acc_norm_stderr,none": 0.0045},
        "gsm8k": {"exact_match,strict-match": 0.0, "exact_match_stderr,strict-match": 0.0,
                  "exact_match,flexible-extract": 0.0152, "exact_match_stderr,flexible-extract": 0.0034},
        **{k: dict(v) for k, v in MMLU.items()}}, extra=GROUPS))
    # step 2000 evaluated twice: the later file re-ran hellaswag (and only it)
    _write(root, step2k, "2024-12-02T09-00-00.000001", _results(step2k, {
        "hellaswag": {"acc,none": 0.30, "acc_stderr,none": 0.0046, "acc_norm,none": 0.31, "acc_norm_stderr,none": 0.0046},
        "lambada_openai": {"perplexity,none": 40.5, "perplexity_stderr,none": 1.5, "acc,none": 0.33, "acc_stderr,none": "N/A"}}))
    _write(root, step2k, "2024-12-03T09-00-00.000001", _results(step2k, {
        "hellaswag": {"acc,none": 0.305, "acc_stderr,none": 0.0046, "acc_norm,none": 0.315, "acc_norm_stderr,none": 0.0046}}))
    _write(root, other, "2024-12-04T08-00-00.000001", _results(other, {
        "hellaswag": {"acc,none": 0.26, "acc_stderr,none": 0.0044, "acc_norm,none": 0.262, "acc_norm_stderr,none": 0.0044}},
        limit=100))
    losses = tmp_path / "losses.csv"
    losses.write_text("checkpoint,loss,params,tokens,run,step\n"
                      "org__pythia-160m-step1000,3.10,162322944,2097152000,pythia-160m,1000\n"
                      "pythia-160m-step2000,2.95,162322944,4194304000,pythia-160m,2000\n"  # the model path's last part
                      "other-70m,3.40,,,,\n")
    return root, losses


def test_hand_written_lm_eval_0_4_folders_convert_row_by_row(lab_outputs, tmp_path):
    root, losses = lab_outputs
    table = tmp_path / "table.csv"
    result = run_cli("convert", "lm-eval", str(root), "--losses", str(losses), "--out", str(table))
    assert result.returncode == 0, result.stderr
    assert "2 rows of older results files were replaced" in result.stderr
    rows = read_eval_table(table)  # the project's own strict reader accepts it
    got = {(r["checkpoint"], r["task"], r["metric"]): r for r in rows}
    expected_keys = {
        ("org__pythia-160m-step1000", t, m) for t, m in [
            ("hellaswag", "acc"), ("hellaswag", "acc_norm"), ("gsm8k", "exact_match/strict-match"),
            ("gsm8k", "exact_match/flexible-extract"), ("mmlu", "acc"), ("mmlu_stem", "acc"),
            ("mmlu_abstract_algebra", "acc"), ("mmlu_anatomy", "acc")]
    } | {("pythia-160m-step2000", t, m) for t, m in [("hellaswag", "acc"), ("hellaswag", "acc_norm"),
                                                      ("lambada_openai", "perplexity"), ("lambada_openai", "acc")]} \
      | {("other-70m", "hellaswag", "acc"), ("other-70m", "hellaswag", "acc_norm")}
    assert set(got) == expected_keys and len(rows) == len(expected_keys)  # each once: groups not doubled
    for (checkpoint, task, metric), row in got.items():
        assert row["run"] == {"other-70m": "other-70m"}.get(checkpoint, "pythia-160m")
        assert row["lm_eval_version"] == "0.4.5" and row["random_baseline"] == ""
        assert row["task_version"] == ("N/A" if task in ("mmlu", "mmlu_stem") else "1.0")
        assert row["num_fewshot"] == ("5" if task.startswith("mmlu_") else "0")
        assert row["higher_is_better"] == ("false" if metric == "perplexity" else "true")
    a = got[("org__pythia-160m-step1000", "gsm8k", "exact_match/flexible-extract")]
    assert (a["step"], a["params"], a["tokens"], a["loss"]) == ("1000", "162322944", "2097152000", "3.1")
    assert (float(a["value"]), float(a["stderr"]), a["limit"]) == (0.0152, 0.0034, "")
    assert float(got[("org__pythia-160m-step1000", "mmlu_anatomy", "acc")]["value"]) == 0.2815
    newer = got[("pythia-160m-step2000", "hellaswag", "acc")]
    assert float(newer["value"]) == 0.305 and newer["loss"] == "2.95"  # the newer file's re-run
    assert float(got[("pythia-160m-step2000", "lambada_openai", "perplexity")]["value"]) == 40.5
    assert got[("pythia-160m-step2000", "lambada_openai", "acc")]["stderr"] == ""  # "N/A": bootstrap_iters=0
    other = got[("other-70m", "hellaswag", "acc")]
    assert (other["limit"], other["params"], other["step"], other["tokens"]) == ("100", "160000000", "", "")


def test_jsonl_losses_and_a_single_results_file(lab_outputs, tmp_path):
    root, _ = lab_outputs
    losses = tmp_path / "losses.jsonl"
    losses.write_text(json.dumps({"checkpoint": "other-70m", "loss": 3.4, "params": 70_000_000}) + "\n")
    (path,) = (root / "__ckpts__other-70m").glob("results_*.json")
    table = tmp_path / "one.csv"
    result = run_cli("convert", "lm-eval", str(path), "--losses", str(losses), "--out", str(table))
    assert result.returncode == 0, result.stderr
    rows = read_eval_table(table)
    assert {(r["checkpoint"], r["metric"], r["params"], r["loss"]) for r in rows} == {
        ("other-70m", "acc", "70000000", "3.4"), ("other-70m", "acc_norm", "70000000", "3.4")}


@pytest.mark.parametrize("case", ["no_loss", "not_results", "empty_folder", "bad_loss", "losses_header"])
def test_bad_input_is_one_line_and_writes_nothing(lab_outputs, tmp_path, case):
    root, losses = lab_outputs
    args = [str(root), "--losses", str(losses)]
    if case == "no_loss":
        losses.write_text("checkpoint,loss\nother-70m,3.4\n")
        want = "no pre-training loss for 2 evaluated checkpoint(s): org__pythia-160m-step1000"
    elif case == "not_results":
        bad = root / "x" / "results_2024-01-01T00-00-00.json"
        bad.parent.mkdir()
        bad.write_text('{"acc": 0.5}')
        want = f"{bad} is not an lm-eval results file"
    elif case == "empty_folder":
        (tmp_path / "empty").mkdir()
        args = [str(tmp_path / "empty")]
        want = "holds no results_*.json"
    elif case == "bad_loss":
        losses.write_text("checkpoint,loss\nother-70m,3.4x\n")
        want = f"{losses}:2: loss '3.4x' is not a number"
    else:
        losses.write_text("name,val_loss\nother-70m,3.4\n")
        want = "lacks the column(s) checkpoint, loss"
    table = tmp_path / "t.csv"
    result = run_cli("convert", "lm-eval", *args, "--out", str(table))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and want in lines[0], result.stderr
    assert not table.exists()
