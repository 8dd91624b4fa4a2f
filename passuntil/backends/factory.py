"""The backend a command names: its module is imported only when chosen (vLLM and torch are heavy)."""
from __future__ import annotations


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
