"""A trained checkpoint is a Hugging Face model directory by HF's own conventions: generation_config.json, sharded
safetensors with an index above the shard size, the tokenizer's model_max_length at the model's context, and an
optimizer state that loads with weights_only=True. Loaded by AutoModelForCausalLM, AutoTokenizer,
pipeline("text-generation") and lm-eval's hf model, and still verified and resumed by our own readers."""
from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig, pipeline

from contracts.errors import RunDirError
from contracts.run_dir import check_weights, weights_damage
from tests.conftest import tiny_config
from trainer.checkpoint import TRAINER_STATE, latest_resumable
from trainer.hf_convert import load_hf_checkpoint
from trainer.loop import load_trainer_state, train

SHARD = "200KB"  # the ~0.2M-parameter rung holds ~0.9 MB of fp32 weights: several shards


@pytest.fixture(scope="module")
def sharded_run(tmp_path_factory, data_dir):
    cfg = tiny_config(data_dir, tokens=64 * 16 * 12)
    cfg.checkpoints.log_spaced, cfg.checkpoints.every_tokens, cfg.checkpoints.max_shard_size = 0, 64 * 16 * 6, SHARD
    run = tmp_path_factory.mktemp("hf_layout") / "run"
    train(cfg, run, progress=False)
    return cfg, run, run / "checkpoints" / "step_00000012"


def test_checkpoint_files_follow_the_hf_layout(sharded_run):
    cfg, _, final = sharded_run
    names = {p.name for p in final.iterdir()}
    assert {"config.json", "generation_config.json", "model.safetensors.index.json", "tokenizer.json",
            "tokenizer_config.json", "checkpoint.json", TRAINER_STATE} <= names
    assert "model.safetensors" not in names
    index = json.loads((final / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) >= 3 and shards == sorted(n for n in names if n.endswith(".safetensors"))
    assert all(name.startswith("model-") and "-of-" in name for name in shards)
    assert index["metadata"]["total_size"] == sum(
        t.numel() * t.element_size() for t in load_hf_checkpoint(final)[1].values())
    assert json.loads((final / "tokenizer_config.json").read_text())["model_max_length"] == cfg.model.max_seq_len
    config = json.loads((final / "config.json").read_text())
    assert config["dtype"] == "float32" and "torch_dtype" not in config
    generation = GenerationConfig.from_pretrained(final)
    assert generation.eos_token_id == config["eos_token_id"] and generation.bos_token_id == config["bos_token_id"]
    record = json.loads((final / "checkpoint.json").read_text())
    assert set(shards) | {"model.safetensors.index.json", "generation_config.json"} <= set(record["files"])


def test_hf_loaders_read_the_sharded_checkpoint(sharded_run):
    cfg, _, final = sharded_run
    model = AutoModelForCausalLM.from_pretrained(final, dtype=torch.float32).eval()
    ours = load_hf_checkpoint(final)[1]
    assert sum(p.numel() for p in model.parameters()) == sum(t.numel() for t in ours.values())
    assert torch.equal(model.model.embed_tokens.weight, ours["embed.weight"])
    tokenizer = AutoTokenizer.from_pretrained(final)
    assert tokenizer.model_max_length == cfg.model.max_seq_len
    generate = pipeline("text-generation", model=str(final), dtype=torch.float32, device="cpu")
    out = generate("The river", max_new_tokens=4, do_sample=False)
    assert out[0]["generated_text"].startswith("The river") and len(out[0]["generated_text"]) > len("The river")


def test_lm_eval_hf_model_evaluates_the_sharded_checkpoint(sharded_run, suite_data):
    import lm_eval

    from lm_eval_tasks.evaluate import task_manager

    _, _, final = sharded_run
    out = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={final},dtype=float32", tasks=["es_winogrande"],
                                  task_manager=task_manager(), limit=4, batch_size=2, device="cpu", log_samples=False,
                                  bootstrap_iters=0)
    assert 0.0 <= out["results"]["es_winogrande"]["acc,none"] <= 1.0


def test_our_readers_verify_and_resume_from_shards(sharded_run, tmp_path):
    import shutil

    _, run, final = sharded_run
    assert weights_damage(final) is None and latest_resumable(run) == final
    check_weights(final, full=True)
    state = load_trainer_state(final / TRAINER_STATE)
    assert state["step"] == 12 and state["rng"]["numpy"]["keys"].dtype == torch.int64
    copy = tmp_path / "copy"
    shutil.copytree(final, copy)
    shard = sorted(copy.glob("model-*.safetensors"))[1]
    shard.write_bytes(shard.read_bytes()[:-100])  # one torn shard among several
    assert weights_damage(copy) == f"{shard} is damaged ({shard.stat().st_size} bytes, its header says {shard.stat().st_size + 100})"
    with pytest.raises(RunDirError, match="is damaged"):
        check_weights(copy)


def test_a_trainer_state_that_needs_unpickling_code_is_refused(tmp_path):
    import numpy as np

    forged = tmp_path / TRAINER_STATE
    torch.save({"step": 1, "rng": {"numpy": np.random.get_state()}}, forged)  # a numpy array: arbitrary globals
    with pytest.raises(RunDirError, match="cannot be loaded safely"):
        load_trainer_state(forged)


def test_resume_continues_from_a_safely_loaded_state(tmp_path, data_dir):
    """Cut back to its first checkpoint and resumed: the same weights as the uninterrupted run."""
    import shutil

    cfg = tiny_config(data_dir, tokens=64 * 16 * 8)
    cfg.checkpoints.log_spaced, cfg.checkpoints.every_tokens, cfg.checkpoints.max_shard_size = 0, 64 * 16 * 4, SHARD
    cfg.checkpoints.keep_trainer_state = "all"
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    train(cfg, whole, progress=False)
    shutil.copytree(whole, cut)
    shutil.rmtree(cut / "checkpoints" / "step_00000008")
    train(cfg, cut, progress=False, resume=True)
    a = load_hf_checkpoint(whole / "checkpoints" / "step_00000008")[1]
    b = load_hf_checkpoint(cut / "checkpoints" / "step_00000008")[1]
    assert all(torch.equal(a[k], b[k]) for k in a)
