"""Parameter counts, FLOPs and model FLOPs utilisation (MFU).

Conventions (stated once, used everywhere):
- params: every trainable parameter, the tied embedding counted once.
- params_nonembedding: params minus the input embedding table, and minus the output head when untied
  (Kaplan et al.'s N).
- flops: 6 * params * tokens (Hoffmann et al.'s C = 6ND with N = params), the number the plan and
  checkpoints.jsonl report.
- MFU uses the finer per-token count of PaLM (Chowdhery et al. 2022, App. B): 6 * (non-embedding
  matmul params + output head) + 12 * layers * d_model * seq_len for attention scores, divided by
  the device's dense peak. The peak comes from a table; an unknown device gives MFU = None, never a guess.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from trainer.config import ModelConfig

if TYPE_CHECKING:  # torch only where a device is asked about: planning a ladder needs no torch
    import torch


def param_counts(cfg: ModelConfig) -> dict[str, int]:
    d, h, kv, hd, ff = cfg.d_model, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim, cfg.d_ff
    assert kv is not None and ff is not None  # ModelConfig resolves both in __post_init__
    per_layer = d * (h + 2 * kv) * hd + h * hd * d + 3 * d * ff + 2 * d
    embedding = cfg.vocab_size * d
    head = 0 if cfg.tie_embeddings else cfg.vocab_size * d
    nonembedding = cfg.n_layers * per_layer + d
    return {"params": nonembedding + embedding + head, "params_nonembedding": nonembedding}


def training_flops(params: int, tokens: float) -> float:
    return 6.0 * params * tokens


def flops_per_token(cfg: ModelConfig, seq_len: int) -> float:
    matmul_params = param_counts(cfg)["params_nonembedding"] + cfg.vocab_size * cfg.d_model
    return 6.0 * matmul_params + 12.0 * cfg.n_layers * cfg.d_model * seq_len


# Dense peak FLOP/s per device (bf16 tensor cores for GPUs), from vendor data sheets.
PEAK_FLOPS = {
    "H200": 989e12,
    "H100 SXM": 989e12,
    "H100 NVL": 835e12,
    "H100 PCIe": 756e12,
    "H100": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "A10G": 125e12,
    "L4": 121e12,
    "V100": 125e12,
}


def device_peak_flops(device: torch.device, precision: str) -> float | None:
    if device.type != "cuda" or precision != "bf16":
        return None  # CPU peaks depend on SKU, clocks and threads; no honest table exists
    import torch

    name = torch.cuda.get_device_name(device)
    for key, peak in PEAK_FLOPS.items():  # ordered: specific names before generic ones
        if key in name:
            return peak
    return None


def mfu(tokens_per_s: float, cfg: ModelConfig, seq_len: int, peak: float | None, world_size: int = 1) -> float | None:
    if peak is None:
        return None
    return tokens_per_s * flops_per_token(cfg, seq_len) / (peak * world_size)
