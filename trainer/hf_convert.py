"""Exact conversion between trainer/model.py and Hugging Face `LlamaForCausalLM`.

Our fused projections are split into HF's q/k/v and gate/up matrices (and back); nothing is
recomputed, so the conversion is lossless. Checkpoints are plain HF directories that
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


def to_hf_state_dict(state: dict[str, torch.Tensor], cfg: ModelConfig) -> dict[str, torch.Tensor]:
    q_size, kv_size = cfg.n_heads * cfg.head_dim, cfg.n_kv_heads * cfg.head_dim
    out = {"model.embed_tokens.weight": state["embed.weight"], "model.norm.weight": state["norm.weight"]}
    if not cfg.tie_embeddings:
        out["lm_head.weight"] = state["lm_head.weight"]
    for i in range(cfg.n_layers):
        src, dst = f"layers.{i}.", f"model.layers.{i}."
        q, k, v = state[src + "attn.qkv.weight"].split([q_size, kv_size, kv_size], dim=0)
        gate, up = state[src + "mlp.gate_up.weight"].chunk(2, dim=0)
        out.update({
            dst + "input_layernorm.weight": state[src + "attn_norm.weight"],
            dst + "self_attn.q_proj.weight": q,
            dst + "self_attn.k_proj.weight": k,
            dst + "self_attn.v_proj.weight": v,
            dst + "self_attn.o_proj.weight": state[src + "attn.out.weight"],
            dst + "post_attention_layernorm.weight": state[src + "mlp_norm.weight"],
            dst + "mlp.gate_proj.weight": gate,
            dst + "mlp.up_proj.weight": up,
            dst + "mlp.down_proj.weight": state[src + "mlp.down.weight"],
        })
    # safetensors refuses views that share storage; contiguous copies are cheap next to a save.
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in out.items()}


def from_hf_state_dict(hf: dict[str, torch.Tensor], cfg: ModelConfig) -> dict[str, torch.Tensor]:
    out = {"embed.weight": hf["model.embed_tokens.weight"], "norm.weight": hf["model.norm.weight"]}
    if not cfg.tie_embeddings:
        out["lm_head.weight"] = hf["lm_head.weight"]
    for i in range(cfg.n_layers):
        src, dst = f"model.layers.{i}.", f"layers.{i}."
        out.update({
            dst + "attn_norm.weight": hf[src + "input_layernorm.weight"],
            dst + "attn.qkv.weight": torch.cat([hf[src + f"self_attn.{p}_proj.weight"] for p in "qkv"], dim=0),
            dst + "attn.out.weight": hf[src + "self_attn.o_proj.weight"],
            dst + "mlp_norm.weight": hf[src + "post_attention_layernorm.weight"],
            dst + "mlp.gate_up.weight": torch.cat([hf[src + "mlp.gate_proj.weight"], hf[src + "mlp.up_proj.weight"]], 0),
            dst + "mlp.down.weight": hf[src + "mlp.down_proj.weight"],
        })
    return out


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
