"""A ~0.2M-parameter rung really learns, and its checkpoints are the contract later stages read."""
from __future__ import annotations

import json
import math

import torch
import yaml
from transformers import AutoModelForCausalLM

from tests.conftest import tiny_config
from contracts.atomic import read_jsonl
from trainer.data import validation_batches
from trainer.flops import param_counts
from trainer.loop import train


def test_tiny_rung_learns_and_checkpoints_carry_their_loss(tmp_path, data_dir):
    cfg = tiny_config(data_dir, tokens=1024 * 300, log_interval=25)
    cfg.checkpoints.every_tokens = 1024 * 100
    assert 150_000 < param_counts(cfg.model)["params"] < 250_000
    run = tmp_path / "run"
    summary = train(cfg, run, progress=False)
    assert summary["steps"] == 300

    ckpts = read_jsonl(run / "checkpoints.jsonl")
    assert [c["step"] for c in ckpts] == [1, 3, 10, 32, 100, 200, 300]  # 4 log-spaced early, every 100, final
    for c in ckpts:
        assert set(c) >= {"step", "tokens", "params", "params_nonembedding", "flops", "val_loss", "train_loss", "lr", "path"}
        assert c["flops"] == 6 * c["params"] * c["tokens"]
    first, last = ckpts[0]["val_loss"], ckpts[-1]["val_loss"]
    assert first > math.log(512) - 0.3  # starts near uniform over the vocabulary
    assert last < first - 1.5, (first, last)  # and learns a lot in 300 steps
    assert all(b["val_loss"] < a["val_loss"] for a, b in zip(ckpts[2:], ckpts[3:]))

    metrics = read_jsonl(run / "metrics.jsonl")
    assert metrics[-1]["step"] == 300 and metrics[-1]["tokens_per_s"] > 0 and metrics[-1]["mfu"] is None
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["seed"] == cfg.seed and "torch" in config["provenance"]["versions"]

    # The checkpoint is a plain HF model whose own forward pass reproduces the recorded pre-training loss.
    final = run / ckpts[-1]["path"]
    hf_config = json.loads((final / "config.json").read_text())
    assert hf_config["emergent_suite"]["val_loss"] == last
    model = AutoModelForCausalLM.from_pretrained(final, dtype=torch.float32).eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for inputs, targets in validation_batches(data_dir, cfg.seq_len, cfg.val_tokens, cfg.val_batch_size):
            logits = model(inputs).logits
            total += torch.nn.functional.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1),
                                                       reduction="sum").item()
            count += targets.numel()
    assert abs(total / count - last) < 1e-5
    # Only the newest checkpoint keeps the optimizer state.
    assert sorted(p.parent.name for p in (run / "checkpoints").glob("*/trainer_state.pt")) == ["step_00000300"]


def test_validation_loss_reaches_every_logger_sink(tmp_path, data_dir, monkeypatch):
    """W&B (here a stand-in module: the package is an optional extra) gets `val/loss` at every checkpoint, the
    numbers checkpoints.jsonl records, through the real WandbLogger; metrics.jsonl keeps its training rows."""
    import sys
    import types

    logged, finished = [], []

    class Run:
        def log(self, data, step):
            logged.append((step, data))

        def finish(self):
            finished.append(True)

    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=lambda **kwargs: Run()))
    cfg = tiny_config(data_dir, tokens=64 * 16 * 8, log_to=["wandb"])
    cfg.checkpoints.log_spaced, cfg.checkpoints.every_tokens = 0, 64 * 16 * 4
    train(cfg, tmp_path / "run", progress=False)
    val = [(step, data["val/loss"]) for step, data in logged if "val/loss" in data]
    assert val == [(c["step"], c["val_loss"]) for c in read_jsonl(tmp_path / "run" / "checkpoints.jsonl")]
    assert [s for s, d in logged if "loss" in d] == list(range(1, 9)) and finished == [True]
    assert all("val_loss" not in m for m in read_jsonl(tmp_path / "run" / "metrics.jsonl"))
