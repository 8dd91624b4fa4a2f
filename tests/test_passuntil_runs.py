"""Real PassUntil runs on a small trained model: every task type through the Hugging Face backend,
resume after kill -9, and clear errors. (tests/test_passuntil_vllm.py covers the vLLM backend.)"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from passuntil.records import read_records
from tests.conftest import REPO, SUITE_FIXTURES

BIGBENCH = REPO.parent / "shared" / "bigbench"
needs_bigbench = pytest.mark.usefixtures("bigbench_data")


def passuntil(*args, check=True, timeout=600):
    result = subprocess.run([sys.executable, "-m", "passuntil", *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"passuntil {' '.join(args)} failed:\n{result.stdout}\n{result.stderr[-3000:]}")
    return result


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


COPY = ["a, b, c", "h, d, e", "c, g, a", "b, f, h", "e, a, d", "g, c, b"]


@pytest.fixture()
def copy_task(tmp_path):
    return write_jsonl(tmp_path / "copy.jsonl", [{"id": f"copy{i}", "prompt": f"Input: {s}\nOutput:", "answer": s}
                                                  for i, s in enumerate(COPY)])


def _valid(record, task):
    assert record["task"] == task and record["samples"] >= 1 and 0 <= record["pu_mle"] <= 1
    assert record["ci_low"] <= record["pu_mle"] <= record["ci_high"] or record["censored"]
    assert {"temperature", "top_p", "max_new_tokens", "seed", "backend", "versions", "params"} <= set(record)


def test_custom_exact_task_measures_small_pass_rates(tmp_path, pattern_model, copy_task):
    out = tmp_path / "copy.jsonl.out"
    passuntil("run", "--model", str(pattern_model), "--task", "custom", "--data", str(copy_task), "--r", "1",
              "--max-samples", "400", "--batch-size", "64", "--out", str(out), "--no-progress")
    records = read_records(out)
    assert len(records) == len(COPY)
    for rec in records:
        _valid(rec, "copy")
    assert any(rec["passes"] == 1 and not rec["censored"] for rec in records)  # the model does pass, rarely
    assert records[0]["params"] > 0 and records[0]["backend"] == "hf"
    summary = passuntil("summarize", str(out)).stdout
    assert "copy" in summary and "mean PU" in summary


def test_code_tasks_humaneval_and_custom(tmp_path, pattern_model):
    out = tmp_path / "he.jsonl"
    passuntil("run", "--model", str(pattern_model), "--task", "humaneval", "--limit", "2", "--r", "1", "--max-samples",
              "48", "--batch-size", "48", "--chunk-size", "16", "--max-new-tokens", "24", "--time-limit", "3",
              "--out", str(out), "--no-progress")
    records = read_records(out)
    assert [r["instance_id"] for r in records] == ["HumanEval/0", "HumanEval/1"] or len(records) == 2
    for rec in records:
        _valid(rec, "humaneval")
    code = write_jsonl(tmp_path / "code.jsonl", [{"id": "answer", "prompt": "def answer():", "checker": "code",
                                                  "tests": "def check(fn):\n    assert fn() == 42\n", "entry_point": "answer",
                                                  "stop": ["\ndef", "\n\n"], "max_new_tokens": 16}])
    out2 = tmp_path / "code.out.jsonl"
    passuntil("run", "--model", str(pattern_model), "--task", "custom", "--data", str(code), "--r", "2",
              "--max-samples", "2000", "--out", str(out2), "--no-progress")
    (rec,) = read_records(out2)
    _valid(rec, "code")
    assert rec["passes"] == 2 and not rec["censored"]  # the sandbox runs the model's code and it passes


def test_gsm8k_style_task(tmp_path, pattern_model):
    out = tmp_path / "gsm.jsonl"
    result = passuntil("run", "--model", str(pattern_model), "--task", "gsm8k", "--data",
                       str(SUITE_FIXTURES / "es_gsm8k" / "test.jsonl"), "--r", "1", "--max-samples", "32",
                       "--max-new-tokens", "16", "--out", str(out), "--no-progress")
    # The second fixture problem's answer is "3": a single digit is random-guessable, so it is removed and reported.
    assert "removed 1 random-guessable item(s)" in result.stdout and "1 instance(s) of gsm8k written" in result.stdout
    (rec,) = read_records(out)
    assert rec["instance_id"] == "0" and rec["censored"] and rec["ci_high"] > 0


@needs_bigbench
@pytest.mark.parametrize("task,data,removed", [
    ("emoji_movie", "emoji_movie", False),
    ("date_understanding", "date_understanding", False),
    ("unnatural_icl", "unnatural_in_context_learning/identity", False),
])
def test_bigbench_tasks(tmp_path, pattern_model, task, data, removed):
    out = tmp_path / f"{task}.jsonl"
    result = passuntil("run", "--model", str(pattern_model), "--task", task, "--data", str(BIGBENCH / data), "--limit", "3",
                       "--r", "1", "--max-samples", "32", "--max-new-tokens", "12", "--out", str(out), "--no-progress")
    assert "3 instance(s) of" in result.stdout
    for rec in read_records(out):
        _valid(rec, rec["task"])


@needs_bigbench
def test_random_guessable_items_are_removed_and_counted():
    from passuntil.tasks import load_bigbench_qa, load_unnatural_icl

    task = load_unnatural_icl(BIGBENCH / "unnatural_in_context_learning" / "dates", shots=2)
    assert task.removed_guessable == 0 and task.instances[0].prompt.count("Input: ") == 3
    emoji = load_bigbench_qa("emoji_movie", BIGBENCH / "emoji_movie")
    assert len(emoji.instances) + emoji.removed_guessable == 100
    assert "finding nemo" not in emoji.instances[0].prompt  # options are not shown


def test_kill_and_resume_gives_the_uninterrupted_records(tmp_path, pattern_model, copy_task):
    args = ["--model", str(pattern_model), "--task", "custom", "--data", str(copy_task), "--r", "2", "--max-samples", "600",
            "--batch-size", "32", "--chunk-size", "16", "--seed", "5", "--no-progress"]
    reference = tmp_path / "reference.jsonl"
    passuntil("run", *args, "--out", str(reference))

    resumed = tmp_path / "resumed.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "passuntil", "run", *args, "--out", str(resumed)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and len(read_records(resumed)) < 2 and proc.poll() is None:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = len(read_records(resumed))
    assert 1 <= before < len(COPY), "the kill must land mid-run"
    with open(resumed, "a") as fh:  # a torn line, as a kill during a write would leave
        fh.write('{"task": "copy", "instance_id": "cop')
    again = passuntil("run", *args, "--out", str(resumed))
    assert f"{before} already in" in again.stdout

    def key(records):
        return sorted((r["instance_id"], r["samples"], r["passes"], r["pu_unbiased"]) for r in records)

    got = read_records(resumed)
    assert len(got) == len(COPY) and len({r["instance_id"] for r in got}) == len(COPY)  # none twice
    assert key(got) == key(read_records(reference))


@pytest.mark.parametrize("args,needle", [
    (["--task", "nonexistent"], "unknown task"),
    (["--task", "custom"], "needs --data"),
    (["--task", "humaneval", "--shard", "3/2"], "--shard"),
    (["--task", "humaneval", "--r", "0"], "r <= max_samples"),
    (["--task", "humaneval", "--temperature", "0"], "temperature must be > 0"),
    (["--task", "custom=BROKEN_FILE"], "broken.jsonl:2 is not valid JSON"),
])
def test_bad_input(tmp_path, args, needle):
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": "a", "prompt": "x", "answer": "y"}\n{"id": "b", "prompt": \n')
    args = [a.replace("BROKEN_FILE", str(broken)) for a in args]
    result = passuntil("run", "--model", str(tmp_path), *args, "--out", str(tmp_path / "o.jsonl"), check=False)
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1 and needle in lines[0], result.stderr
    assert not (tmp_path / "o.jsonl").exists()
