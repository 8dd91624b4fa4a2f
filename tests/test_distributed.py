"""Two processes (torchrun, gloo; DDP and FSDP2) follow the single-process loss curve at the same global batch.

Tolerance: 2e-3 nats per step. The two runs add the same gradients in a different order (two
micro-batches accumulated in one process versus an all-reduce of two), so they agree to float32
rounding, which grows slowly over steps; a wrong data split or a missing gradient average would
differ by far more (tenths of a nat within a few steps). FSDP2 shards every block's parameters,
reduce-scatters gradients and gathers full state dicts for its checkpoints, so it also has to resume
exactly and write checkpoints that load unchanged.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

from tests.conftest import run_cli, tiny_config, write_config
from contracts.atomic import read_jsonl


def torchrun(config, out, *extra) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             "-m", "trainer", "train", "--config", str(config), "--out", str(out), "--no-progress", *extra],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


def assert_same_curve(one, two, tolerance=2e-3) -> None:
    a, b = read_jsonl(one / "metrics.jsonl"), read_jsonl(two / "metrics.jsonl")
    assert [m["step"] for m in a] == [m["step"] for m in b] == list(range(1, 41))
    worst = max(abs(x["loss"] - y["loss"]) for x, y in zip(a, b))
    assert worst < tolerance, worst
    assert a[-1]["loss"] < a[0]["loss"] - 0.5  # and both actually trained
    v1 = [c["val_loss"] for c in read_jsonl(one / "checkpoints.jsonl")]
    v2 = [c["val_loss"] for c in read_jsonl(two / "checkpoints.jsonl")]
    assert len(v1) == len(v2) and max(abs(x - y) for x, y in zip(v1, v2)) < tolerance


def test_two_process_ddp_and_fsdp_match_single_process(tmp_path, data_dir):
    import torch
    from transformers import AutoModelForCausalLM

    cfg = tiny_config(data_dir, tokens=1024 * 40)
    cfg.checkpoints.every_tokens = 1024 * 20
    cfg.checkpoints.keep_trainer_state = "all"  # so the FSDP run can be resumed from its middle checkpoint
    config = write_config(cfg, tmp_path / "run.yaml")
    cfg.parallel = "fsdp"
    fsdp_config = write_config(cfg, tmp_path / "fsdp.yaml")

    single = tmp_path / "single"
    run_cli("train", "--config", str(config), "--out", str(single), "--no-progress", check=True)
    torchrun(config, tmp_path / "ddp")
    assert_same_curve(single, tmp_path / "ddp")
    fsdp = tmp_path / "fsdp"
    torchrun(fsdp_config, fsdp)
    assert_same_curve(single, fsdp)

    # FSDP resume: drop the final checkpoint, continue from step 20, get the same steps 21..40.
    first = read_jsonl(fsdp / "metrics.jsonl")
    final = fsdp / "checkpoints" / "step_00000040"
    final_weights = AutoModelForCausalLM.from_pretrained(final).state_dict()
    shutil.rmtree(final)
    torchrun(fsdp_config, fsdp, "--resume")
    again = read_jsonl(fsdp / "metrics.jsonl")
    assert [m["step"] for m in again] == list(range(1, 41))
    assert max(abs(x["loss"] - y["loss"]) for x, y in zip(first[20:], again[20:])) < 1e-6
    # The gathered (unsharded) checkpoint loads unchanged and matches the single-process weights closely.
    resumed = AutoModelForCausalLM.from_pretrained(final).state_dict()
    reference = AutoModelForCausalLM.from_pretrained(single / "checkpoints" / "step_00000040").state_dict()
    for name, tensor in resumed.items():
        torch.testing.assert_close(tensor, final_weights[name], rtol=0, atol=1e-6)
        torch.testing.assert_close(tensor, reference[name], rtol=0, atol=2e-3)
