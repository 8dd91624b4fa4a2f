"""Hugging Face transformers backend: prefill the prompt once, then sample n continuations from it.

The prompt's key/value cache is computed once and repeated n times (`DynamicCache.batch_repeat_interleave`);
all continuations then decode in lockstep, one token per step, with no padding. Rows that hit a stop
string or the end-of-text token leave the batch (`batch_select_indices`), so the batch only holds live
rows. Against n separate `generate` calls this saves n - 1 prefills and runs n rows per forward pass
(benchmarks/passuntil_throughput.py measures the gain).
"""
from __future__ import annotations

import torch

from passuntil.backends import SampleRequest

STOP_WINDOW = 16  # tokens decoded to look for a stop string; stop strings are a few tokens long


def sample_next(logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator) -> torch.Tensor:
    probs = torch.softmax(logits / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        keep = sorted_probs.cumsum(-1) - sorted_probs < top_p  # always keeps the most likely token
        sorted_probs = sorted_probs * keep
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


class HFBackend:
    name = "hf"

    def __init__(self, model: str, device: str = "cpu", dtype: str = "auto"):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch_dtype = {"auto": torch.float32 if device == "cpu" else torch.bfloat16, "float32": torch.float32,
                       "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
        self.device = torch.device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        self.model = AutoModelForCausalLM.from_pretrained(model, dtype=torch_dtype).to(self.device).eval()
        self.max_positions = getattr(self.model.config, "max_position_embeddings", None) or 1 << 30
        self.eos = self.tokenizer.eos_token_id

    def sample(self, requests: list[SampleRequest]) -> list[list[str]]:
        return [self.sample_one(req) for req in requests]

    @torch.no_grad()
    def sample_one(self, req: SampleRequest) -> list[str]:
        ids = self.tokenizer(req.prompt, return_tensors="pt").input_ids
        budget = max(1, self.max_positions - req.max_new_tokens)
        ids = ids[:, -budget:].to(self.device)  # keep the end of an over-long prompt
        generator = torch.Generator(device=self.device).manual_seed(req.seed)
        out = self.model(input_ids=ids, use_cache=True)
        cache = out.past_key_values
        cache.batch_repeat_interleave(req.n)
        logits = out.logits[:, -1, :].float().expand(req.n, -1)
        generated: list[list[int]] = [[] for _ in range(req.n)]
        alive = list(range(req.n))
        max_new = min(req.max_new_tokens, self.max_positions - ids.shape[1])
        for step in range(max_new):
            tokens = sample_next(logits, req.temperature, req.top_p, generator)
            keep = []
            for pos, row in enumerate(alive):
                token = int(tokens[pos])
                generated[row].append(token)
                if token == self.eos:
                    continue
                tail = self.tokenizer.decode(generated[row][-STOP_WINDOW:])
                if any(s in tail for s in req.stop):
                    continue
                keep.append(pos)
            if not keep or step == max_new - 1:
                break
            if len(keep) < len(alive):
                index = torch.tensor(keep, device=self.device)
                cache.batch_select_indices(index)
                tokens = tokens[index]
                alive = [alive[p] for p in keep]
            logits = self.model(input_ids=tokens[:, None], past_key_values=cache, use_cache=True).logits[:, -1, :].float()
        texts = []
        for row in generated:
            if row and row[-1] == self.eos:
                row = row[:-1]
            text = self.tokenizer.decode(row, skip_special_tokens=True)
            cut = min([text.find(s) for s in req.stop if s in text], default=len(text))
            texts.append(text[:cut])
        return texts
