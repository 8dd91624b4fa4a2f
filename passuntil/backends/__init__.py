"""Sampling backends. Each takes a list of SampleRequest and returns, per request, n completions.

A request's samples come from its own seed, so results do not depend on how the scheduler packs
requests into calls (the basis of exact resume).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SampleRequest:
    prompt: str
    n: int
    seed: int
    temperature: float
    top_p: float
    max_new_tokens: int
    stop: tuple[str, ...]
    key: str = ""  # instance id; the simulated backend reads its pass probability from it


def make_backend(name: str, model: str, device: str = "cpu", tensor_parallel_size: int = 1, dtype: str = "auto",
                 memory_utilization: float | None = None):
    if name == "hf":
        from passuntil.backends.hf import HFBackend

        return HFBackend(model, device=device, dtype=dtype)
    if name == "vllm":
        from contracts.errors import require_vllm

        require_vllm()
        from passuntil.backends.vllm import VLLMBackend

        return VLLMBackend(model, tensor_parallel_size=tensor_parallel_size, dtype=dtype,
                           memory_utilization=memory_utilization)
    raise ValueError(f"unknown backend {name!r}; choose hf or vllm")
