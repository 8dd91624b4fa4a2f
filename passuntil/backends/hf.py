"""Hugging Face transformers backend: every request of a call decodes together, prompts prefilled once.

A call's requests (often chunks of several instances) become one batch of rows. Each distinct prompt
is prefilled once; its keys and values are copied into the rows that sample from it (left-padded
to a common length in a preallocated cache), and all rows then decode in lockstep, one token per
step, as one forward pass. Tokens come from `sampling.draw` with a per-row counter-based random
stream, so a row's samples do not depend on its batch-mates. Steps run without host
synchronisation; every few steps the new tokens are copied back in one transfer and only rows whose
newest token can complete a stop string are decoded (`sampling.StopMatcher`); the call ends when
every row has stopped. On CUDA one decoding step is a replayed CUDA graph.

Llama-architecture checkpoints (this project's) take the static-cache path
(passuntil/backends/static_decode.py); other architectures decode request by request through the
model's own forward and cache, with the same draws and stop handling.
"""
from __future__ import annotations

import inspect

import numpy as np
import torch

from passuntil.backends import SampleRequest
from passuntil.backends.sampling import StopMatcher, draw, uniforms
from passuntil.backends.static_decode import DecodeState, StaticDecoder, supports

CHECK_EVERY = 4  # decoding steps between looks at the new tokens (one device-to-host copy each)
PROMPT_BUCKET = 64  # prompt lengths round up to this, so that batches reuse buffers and graphs


class HFBackend:
    name = "hf"

    def __init__(self, model: str, device: str = "cpu", dtype: str = "auto", cuda_graphs: bool = True):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch_dtype = {"auto": torch.float32 if device == "cpu" else torch.bfloat16, "float32": torch.float32,
                       "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
        self.device = torch.device(device)
        self.dtype = torch_dtype
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        self.model = AutoModelForCausalLM.from_pretrained(model, dtype=torch_dtype).to(self.device).eval()
        self.max_positions = getattr(self.model.config, "max_position_embeddings", None) or 1 << 30
        self.eos = self.tokenizer.eos_token_id
        self.static = StaticDecoder(self.model) if supports(self.model) else None
        self.cuda_graphs = cuda_graphs and self.device.type == "cuda"
        self._matchers: dict[tuple, StopMatcher] = {}
        self._states: dict[tuple, DecodeState] = {}

    def matcher(self, stops: tuple[str, ...]) -> StopMatcher:
        if stops not in self._matchers:
            self._matchers[stops] = StopMatcher(self.tokenizer, stops, self.eos)
        return self._matchers[stops]

    def sample(self, requests: list[SampleRequest]) -> list[list[str]]:
        """Requests with the same sampling settings share forward passes; results keep the request order."""
        groups: dict[tuple, list[int]] = {}
        for i, req in enumerate(requests):
            groups.setdefault((req.temperature, req.top_p, req.stop), []).append(i)
        out: list[list[str]] = [[] for _ in requests]
        for (_, _, stops), members in groups.items():
            matcher = self.matcher(stops)
            for i, rows in zip(members, self.sample_tokens([requests[i] for i in members])):
                out[i] = [matcher.text(row) for row in rows]
        return out

    def sample_one(self, req: SampleRequest) -> list[str]:
        return self.sample([req])[0]

    def prompt_ids(self, req: SampleRequest) -> list[int]:
        ids = self.tokenizer(req.prompt).input_ids
        return ids[-max(1, self.max_positions - req.max_new_tokens):]  # keep the end of an over-long prompt

    @torch.no_grad()
    def sample_tokens(self, requests: list[SampleRequest]) -> list[list[list[int]]]:
        """Token ids per request and sample, each ending at its stop (inclusive) or end-of-text (inclusive)."""
        if self.static is None:
            return [self._sample_generic(req) for req in requests]
        return self._sample_static(requests)

    # -- the static-cache path ------------------------------------------------------------------
    @property
    def _static(self) -> StaticDecoder:
        if self.static is None:  # sample_tokens routes models StaticDecoder does not support to the generic path
            raise RuntimeError("the static-cache path was asked for a model StaticDecoder does not support")
        return self.static

    def _sample_static(self, requests: list[SampleRequest]) -> list[list[list[int]]]:
        prompts: dict[tuple[int, ...], int] = {}
        row_prompt, seeds, indices, limits = [], [], [], []
        for req in requests:
            ids = tuple(self.prompt_ids(req))
            slot = prompts.setdefault(ids, len(prompts))
            limit = max(1, min(req.max_new_tokens, self.max_positions - len(ids)))
            row_prompt += [slot] * req.n
            seeds += [req.seed] * req.n
            indices += list(range(req.n))
            limits += [limit] * req.n
        longest = max(len(p) for p in prompts)
        padded = -(-longest // PROMPT_BUCKET) * PROMPT_BUCKET
        max_new = max(limits)
        state = self._state(len(row_prompt), padded, max_new, requests[0])
        first_logits = self._fill_prompts(state, list(prompts), torch.tensor(row_prompt, device=self.device), padded)
        state.seeds.copy_(torch.tensor(seeds))
        state.rows.copy_(torch.tensor(indices))
        lengths = torch.tensor([len(p) for p in prompts], device=self.device)[torch.tensor(row_prompt, device=self.device)]
        state.out[:, 0] = draw(first_logits, uniforms(state.seeds, state.rows, 0), state.temperature, state.top_p)
        state.tokens.copy_(state.out[:, 0])
        state.positions.copy_(lengths)
        state.write_at.fill_(padded)
        state.step_no.fill_(1)
        tokens = self._decode_loop(state, np.array(limits), requests[0].stop)
        return self._split(tokens, requests)

    def _state(self, rows: int, padded: int, max_new: int, req: SampleRequest) -> DecodeState:
        key = (rows, padded, max_new, req.temperature, req.top_p)
        state = self._states.get(key)
        if state is None:
            self._states.clear()  # one batch shape at a time: the cache is the largest allocation here
            state = DecodeState(self._static, rows, padded, max_new, self.dtype, self.device)
            state.temperature, state.top_p = req.temperature, req.top_p
            self._states[key] = state
        return state

    def _fill_prompts(self, state: DecodeState, prompts: list[tuple[int, ...]], row_prompt, padded: int):
        """Prefill each distinct prompt once, copy its keys/values into its rows; returns each row's first logits."""
        valid = torch.zeros(len(prompts), padded, dtype=torch.bool, device=self.device)
        logits = []
        static = self._static
        per_layer_k = [torch.zeros(len(prompts), static.n_kv, padded, static.head_dim, dtype=self.dtype,
                                   device=self.device) for _ in state.cache_k]
        per_layer_v = [torch.zeros_like(t) for t in per_layer_k]
        for slot, ids in enumerate(prompts):
            keys, values, last = static.prefill(torch.tensor([ids], device=self.device))
            start = padded - len(ids)
            valid[slot, start:] = True
            for layer, (k, v) in enumerate(zip(keys, values)):
                per_layer_k[layer][slot, :, start:] = k[0]
                per_layer_v[layer][slot, :, start:] = v[0]
            logits.append(last)
        for layer in range(len(state.cache_k)):
            state.cache_k[layer][:, :, :padded] = per_layer_k[layer][row_prompt]
            state.cache_v[layer][:, :, :padded] = per_layer_v[layer][row_prompt]
        state.mask.zero_()
        state.mask[:, 0, 0, :padded] = valid[row_prompt]
        return torch.stack(logits)[row_prompt]

    def _decode_loop(self, state: DecodeState, limits: np.ndarray, stops: tuple[str, ...]) -> list[np.ndarray]:
        if self.cuda_graphs and state.graph is None:
            state.capture()
        matcher = self.matcher(stops)
        rows, max_new = len(limits), int(limits.max())
        done, end = np.zeros(rows, dtype=bool), limits.copy()
        steps, checked = 1, 0
        while True:
            target = min(max_new, steps + CHECK_EVERY)
            while steps < target:
                state.run_step()
                steps += 1
            tokens = state.out[:, :steps].cpu().numpy()  # the one synchronisation per CHECK_EVERY steps
            matcher.ends(tokens, checked, done, end)
            np.minimum(end, limits, out=end)  # a row's own token limit comes first
            checked = steps
            done |= steps >= limits
            if done.all():
                return [tokens[r, :end[r]] for r in range(rows)]

    @staticmethod
    def _split(tokens, requests):
        out, k = [], 0
        for req in requests:
            out.append([tokens[k + j].tolist() for j in range(req.n)])
            k += req.n
        return out

    # -- any other architecture: the model's own forward and cache, one request at a time --------
    def _sample_generic(self, req: SampleRequest) -> list[list[int]]:
        ids = torch.tensor([self.prompt_ids(req)], device=self.device)
        cache_kw = "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"
        out = self.model(input_ids=ids, use_cache=True)
        cache = getattr(out, cache_kw, None) or out.past_key_values
        cache.batch_repeat_interleave(req.n)
        logits = out.logits[:, -1, :].float().expand(req.n, -1)
        seeds = torch.full((req.n,), req.seed, dtype=torch.int64, device=self.device)
        rows = torch.arange(req.n, device=self.device)
        limit = max(1, min(req.max_new_tokens, self.max_positions - ids.shape[1]))
        matcher = self.matcher(req.stop)
        done, end = np.zeros(req.n, dtype=bool), np.full(req.n, limit)
        produced, checked = [], 0
        for step in range(limit):
            tokens = draw(logits, uniforms(seeds, rows, step), req.temperature, req.top_p)
            produced.append(tokens)
            if (step + 1) % CHECK_EVERY == 0 or step == limit - 1:
                matcher.ends(torch.stack(produced, 1).cpu().numpy(), checked, done, end)
                checked = step + 1
                if done.all():
                    break
            if step < limit - 1:
                positions = torch.full((req.n, 1), ids.shape[1] + step, device=self.device)
                logits = self.model(input_ids=tokens[:, None], position_ids=positions, use_cache=True,
                                    **{cache_kw: cache}).logits[:, -1, :].float()
        block = torch.stack(produced, 1).cpu().numpy()
        return [block[r, :end[r]].tolist() for r in range(req.n)]
