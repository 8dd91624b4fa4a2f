"""kill -9 during training, then --resume: the same per-step losses as an uninterrupted run."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.conftest import run_cli, tiny_config, write_config
from contracts.atomic import read_jsonl


def _losses(run):
    return [(m["step"], m["loss"]) for m in read_jsonl(run / "metrics.jsonl")]


def test_kill_and_resume_matches_uninterrupted_run(tmp_path, data_dir):
    cfg = tiny_config(data_dir, tokens=1024 * 160)
    cfg.checkpoints.every_tokens = 1024 * 20
    config = write_config(cfg, tmp_path / "run.yaml")

    reference = tmp_path / "reference"
    run_cli("train", "--config", str(config), "--out", str(reference), "--no-progress", check=True)

    interrupted = tmp_path / "interrupted"
    proc = subprocess.Popen([sys.executable, "-m", "trainer", "train", "--config", str(config), "--out",
                             str(interrupted), "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while time.time() < deadline:
        steps = [c["step"] for c in read_jsonl(interrupted / "checkpoints.jsonl")]
        if steps and steps[-1] >= 60:
            break
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = read_jsonl(interrupted / "metrics.jsonl")[-1]["step"]
    assert 60 <= killed_at < 160, "the kill must land mid-run"

    again = run_cli("train", "--config", str(config), "--out", str(interrupted), "--no-progress")
    assert again.returncode == 2 and "--resume" in again.stderr  # refuses to overwrite without --resume
    run_cli("train", "--config", str(config), "--out", str(interrupted), "--resume", "--no-progress", check=True)

    assert _losses(interrupted) == _losses(reference)  # bit-identical, every step exactly once
    ref_ckpts = read_jsonl(reference / "checkpoints.jsonl")
    got_ckpts = read_jsonl(interrupted / "checkpoints.jsonl")
    assert [(c["step"], c["val_loss"]) for c in got_ckpts] == [(c["step"], c["val_loss"]) for c in ref_ckpts]
