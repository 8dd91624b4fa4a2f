"""Two processes (torchrun, gloo, DDP) follow the single-process loss curve at the same global batch.

Tolerance: 2e-3 nats per step. The two runs add the same gradients in a different order (two
micro-batches accumulated in one process versus an all-reduce of two), so they agree to float32
rounding, which grows slowly over steps; a wrong data split or a missing gradient average would
differ by far more (tenths of a nat within a few steps).
"""
from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import run_cli, tiny_config, write_config
from trainer.atomic import read_jsonl


def test_two_process_ddp_matches_single_process(tmp_path, data_dir):
    cfg = tiny_config(data_dir, tokens=1024 * 40)
    cfg.checkpoints.every_tokens = 1024 * 20
    config = write_config(cfg, tmp_path / "run.yaml")

    single = tmp_path / "single"
    run_cli("train", "--config", str(config), "--out", str(single), "--no-progress", check=True)

    ddp = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             "-m", "trainer", "train", "--config", str(config), "--out", str(ddp), "--no-progress"],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]

    one = read_jsonl(single / "metrics.jsonl")
    two = read_jsonl(ddp / "metrics.jsonl")
    assert [m["step"] for m in one] == [m["step"] for m in two] == list(range(1, 41))
    worst = max(abs(a["loss"] - b["loss"]) for a, b in zip(one, two))
    assert worst < 2e-3, worst
    assert one[-1]["loss"] < one[0]["loss"] - 0.5  # and both actually trained
    v1 = [c["val_loss"] for c in read_jsonl(single / "checkpoints.jsonl")]
    v2 = [c["val_loss"] for c in read_jsonl(ddp / "checkpoints.jsonl")]
    assert len(v1) == len(v2) and max(abs(a - b) for a, b in zip(v1, v2)) < 2e-3
