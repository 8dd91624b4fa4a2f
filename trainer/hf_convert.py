"""Exact conversion between trainer/model.py and Hugging Face `LlamaForCausalLM`.

The two models hold the same tensors under different names, so conversion is a renaming (both
ways) and lossless. Checkpoints are plain HF directories (config.json, generation_config.json, safetensors
weights, sharded with an index above `max_shard_size` as `save_pretrained` shards them, and the tokenizer with the
model's context as its `model_max_length`) that `AutoModelForCausalLM.from_pretrained`, `pipeline`,
`lm_eval --model hf` and vLLM load unchanged.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from huggingface_hub import save_torch_state_dict
from safetensors.torch import load_file
from transformers import GenerationConfig, LlamaConfig

from contracts.run_dir import weight_files
from trainer.config import ModelConfig

MAX_SHARD_SIZE = "5GB"  # save_pretrained's default: a 6B model in fp32 is 5 shards, not one 24 GB file


def to_hf_config(cfg: ModelConfig, extra: dict | None = None, tokenizer=None) -> LlamaConfig:
    special = {}
    if tokenizer is not None:
        special = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
                   "pad_token_id": tokenizer.pad_token_id}
    hf = LlamaConfig(
        vocab_size=cfg.vocab_size,
        hidden_size=cfg.d_model,
        intermediate_size=cfg.d_ff,
        num_hidden_layers=cfg.n_layers,
        num_attention_heads=cfg.n_heads,
        num_key_value_heads=cfg.n_kv_heads,
        head_dim=cfg.head_dim,
        max_position_embeddings=cfg.max_seq_len,
        rms_norm_eps=cfg.norm_eps,
        rope_theta=cfg.rope_theta,
        tie_word_embeddings=cfg.tie_embeddings,
        hidden_act="silu",
        attention_bias=False,
        mlp_bias=False,
        initializer_range=cfg.init_std,
        dtype="float32",
        **special,
    )
    hf.architectures = ["LlamaForCausalLM"]
    if extra:
        for key, value in extra.items():
            setattr(hf, key, value)
    return hf


def from_hf_config(hf: dict) -> ModelConfig:
    rope = hf.get("rope_parameters") or {}
    return ModelConfig(
        vocab_size=hf["vocab_size"],
        d_model=hf["hidden_size"],
        n_layers=hf["num_hidden_layers"],
        n_heads=hf["num_attention_heads"],
        n_kv_heads=hf.get("num_key_value_heads") or hf["num_attention_heads"],
        d_ff=hf["intermediate_size"],
        max_seq_len=hf["max_position_embeddings"],
        rope_theta=float(hf.get("rope_theta") or rope.get("rope_theta", 10000.0)),
        norm_eps=hf["rms_norm_eps"],
        tie_embeddings=bool(hf.get("tie_word_embeddings", True)),
        init_std=hf.get("initializer_range", 0.02),
    )


# Our parameter names inside block i -> HF's inside model.layers.i (the same tensors, renamed).
BLOCK_NAMES = {
    "attn_norm.weight": "input_layernorm.weight",
    "attn.q.weight": "self_attn.q_proj.weight",
    "attn.k.weight": "self_attn.k_proj.weight",
    "attn.v.weight": "self_attn.v_proj.weight",
    "attn.out.weight": "self_attn.o_proj.weight",
    "mlp_norm.weight": "post_attention_layernorm.weight",
    "mlp.gate.weight": "mlp.gate_proj.weight",
    "mlp.up.weight": "mlp.up_proj.weight",
    "mlp.down.weight": "mlp.down_proj.weight",
}


def hf_names(cfg: ModelConfig) -> dict[str, str]:
    names = {"embed.weight": "model.embed_tokens.weight", "norm.weight": "model.norm.weight"}
    if not cfg.tie_embeddings:
        names["lm_head.weight"] = "lm_head.weight"
    for i in range(cfg.n_layers):
        names.update({f"layers.{i}.{ours}": f"model.layers.{i}.{theirs}" for ours, theirs in BLOCK_NAMES.items()})
    return names


def to_hf_state_dict(state: dict[str, torch.Tensor], cfg: ModelConfig) -> dict[str, torch.Tensor]:
    # safetensors refuses tensors that share storage; contiguous copies are cheap next to a save.
    return {theirs: state[ours].detach().to("cpu").contiguous().clone() for ours, theirs in hf_names(cfg).items()}


def from_hf_state_dict(hf: dict[str, torch.Tensor], cfg: ModelConfig) -> dict[str, torch.Tensor]:
    return {ours: hf[theirs] for ours, theirs in hf_names(cfg).items()}


def save_hf_checkpoint(directory: Path, state: dict[str, torch.Tensor], cfg: ModelConfig,
                       tokenizer=None, extra: dict | None = None, max_shard_size: int | str = MAX_SHARD_SIZE) -> None:
    """Write config.json, generation_config.json, the weights (model.safetensors, or shards and their index) and
    the tokenizer files into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    hf_config = to_hf_config(cfg, extra, tokenizer)
    hf_config.save_pretrained(directory)
    GenerationConfig.from_model_config(hf_config).save_pretrained(directory)
    save_torch_state_dict(to_hf_state_dict(state, cfg), directory, max_shard_size=max_shard_size,
                          metadata={"format": "pt"})
    if tokenizer is not None:
        tokenizer.model_max_length = cfg.max_seq_len  # what the model can attend to, not "unbounded"
        tokenizer.save_pretrained(directory)


def load_hf_checkpoint(directory: Path) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    hf_cfg = json.loads((Path(directory) / "config.json").read_text())
    cfg = from_hf_config(hf_cfg)
    tensors: dict[str, torch.Tensor] = {}
    for path in weight_files(directory):
        tensors.update(load_file(str(path)))
    return cfg, from_hf_state_dict(tensors, cfg)
