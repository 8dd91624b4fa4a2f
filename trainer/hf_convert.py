"""Exact conversion between trainer/model.py and Hugging Face `LlamaForCausalLM`.

The two models hold the same tensors under different names, so conversion is a renaming (both
ways) and lossless. Checkpoints are plain HF directories that
`AutoModelForCausalLM.from_pretrained`, `lm_eval --model hf` and vLLM load unchanged.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import LlamaConfig

from trainer.config import ModelConfig


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
        torch_dtype="float32",
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
                       tokenizer=None, extra: dict | None = None) -> None:
    """Write config.json, model.safetensors and the tokenizer files into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    to_hf_config(cfg, extra, tokenizer).save_pretrained(directory)
    save_file(to_hf_state_dict(state, cfg), str(directory / "model.safetensors"), metadata={"format": "pt"})
    if tokenizer is not None:
        tokenizer.save_pretrained(directory)


def load_hf_checkpoint(directory: Path) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    hf_cfg = json.loads((Path(directory) / "config.json").read_text())
    cfg = from_hf_config(hf_cfg)
    return cfg, from_hf_state_dict(load_file(str(Path(directory) / "model.safetensors")), cfg)
