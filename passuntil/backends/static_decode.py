"""Decoding with a preallocated key/value cache for Llama-architecture checkpoints.

It runs the loaded Hugging Face module's own submodules (embedding, norms, projections, MLP, rotary
embedding, head) and does only the attention around a static cache itself, so it does not depend on
the cache classes and keyword names that change between transformers releases (tests check its
logits against the model's own forward). Every decoding step has the same shapes and no host
synchronisation, so on CUDA one step is captured in a graph and replayed.

Layout: rows are left-padded to a common prompt length P; the cache holds P + max_new positions;
a boolean mask (rows, 1, 1, positions) says what each row may attend to.
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

from passuntil.backends.sampling import draw, uniforms

SUPPORTED = ("llama",)


def supports(model) -> bool:
    cfg = model.config
    inner = getattr(model, "model", None)
    rope = getattr(cfg, "rope_scaling", None) or getattr(cfg, "rope_parameters", None) or {}
    return (getattr(cfg, "model_type", "") in SUPPORTED and inner is not None and hasattr(inner, "rotary_emb")
            and not getattr(cfg, "attention_bias", False) and rope.get("rope_type", "default") == "default")


class StaticDecoder:
    def __init__(self, model):
        cfg = model.config
        self.model, self.inner = model, model.model
        self.n_heads = cfg.num_attention_heads
        self.n_kv = getattr(cfg, "num_key_value_heads", None) or self.n_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // self.n_heads

    def _rope(self, x, positions):
        cos, sin = self.inner.rotary_emb(x, positions)
        return cos.unsqueeze(1), sin.unsqueeze(1)  # (B, 1, T, hd): broadcast over heads

    @staticmethod
    def _rotate(x, cos, sin):
        half = x.shape[-1] // 2
        return (x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin).to(x.dtype)

    def _qkv(self, attn, h, cos, sin):
        b, t, _ = h.shape
        q = self._rotate(attn.q_proj(h).view(b, t, self.n_heads, self.head_dim).transpose(1, 2), cos, sin)
        k = self._rotate(attn.k_proj(h).view(b, t, self.n_kv, self.head_dim).transpose(1, 2), cos, sin)
        v = attn.v_proj(h).view(b, t, self.n_kv, self.head_dim).transpose(1, 2)
        return q, k, v

    @torch.no_grad()
    def prefill(self, ids: torch.Tensor):
        """One prompt (1, L): per-layer keys and values (1, kv, L, hd) and the last position's logits (V,)."""
        positions = torch.arange(ids.shape[1], device=ids.device)[None]
        x = self.inner.embed_tokens(ids)
        cos, sin = self._rope(x, positions)
        keys, values = [], []
        for layer in self.inner.layers:
            h = layer.input_layernorm(x)
            q, k, v = self._qkv(layer.self_attn, h, cos, sin)
            keys.append(k)
            values.append(v)
            rep = self.n_heads // self.n_kv
            y = F.scaled_dot_product_attention(q, k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1), is_causal=True)
            x = x + layer.self_attn.o_proj(y.transpose(1, 2).reshape(1, ids.shape[1], -1))
            x = x + layer.mlp(layer.post_attention_layernorm(x))
        logits = self.model.lm_head(self.inner.norm(x[:, -1:]))[0, -1]
        return keys, values, logits

    def step(self, tokens, positions, cache_k, cache_v, write_at, mask):
        """One token per row: tokens/positions (R,), caches (R, kv, C, hd), write_at (1,), mask (R, 1, 1, C)."""
        rows = tokens.shape[0]
        x = self.inner.embed_tokens(tokens[:, None])
        cos, sin = self._rope(x, positions[:, None])
        group = self.n_heads // self.n_kv
        for layer, ck, cv in zip(self.inner.layers, cache_k, cache_v):
            h = layer.input_layernorm(x)
            q, k, v = self._qkv(layer.self_attn, h, cos, sin)
            ck.index_copy_(2, write_at, k)
            cv.index_copy_(2, write_at, v)
            # Grouped-query decode: a group's query heads share keys, so they ride in the query-length axis.
            q = q.reshape(rows, self.n_kv, group, self.head_dim)
            y = F.scaled_dot_product_attention(q, ck, cv, attn_mask=mask)
            x = x + layer.self_attn.o_proj(y.reshape(rows, 1, self.n_heads * self.head_dim))
            x = x + layer.mlp(layer.post_attention_layernorm(x))
        return self.model.lm_head(self.inner.norm(x))[:, -1]


class DecodeState:
    """Static buffers of one decoding batch; `advance()` samples the next token for every row in place."""

    def __init__(self, decoder: StaticDecoder, rows: int, prompt_len: int, max_new: int, dtype, device):
        self.decoder, self.prompt_len, self.max_new = decoder, prompt_len, max_new
        size = prompt_len + max_new
        shape = (rows, decoder.n_kv, size, decoder.head_dim)
        layers = len(decoder.inner.layers)
        self.cache_k = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(layers)]
        self.cache_v = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(layers)]
        self.mask = torch.zeros(rows, 1, 1, size, dtype=torch.bool, device=device)
        self.tokens = torch.zeros(rows, dtype=torch.int64, device=device)
        self.positions = torch.zeros(rows, dtype=torch.int64, device=device)
        self.seeds = torch.zeros(rows, dtype=torch.int64, device=device)
        self.rows = torch.zeros(rows, dtype=torch.int64, device=device)
        self.write_at = torch.zeros(1, dtype=torch.int64, device=device)
        self.step_no = torch.zeros(1, dtype=torch.int64, device=device)
        self.out = torch.zeros(rows, max_new, dtype=torch.int64, device=device)
        self.temperature, self.top_p = 1.0, 1.0
        self.graph = None

    def advance(self):
        """Feed the last token, write its keys/values at `write_at`, draw the next token into `out`."""
        self.mask.index_fill_(3, self.write_at, True)
        logits = self.decoder.step(self.tokens, self.positions, self.cache_k, self.cache_v, self.write_at, self.mask)
        nxt = draw(logits, uniforms(self.seeds, self.rows, self.step_no), self.temperature, self.top_p)
        self.tokens.copy_(nxt)
        self.out.index_copy_(1, self.step_no, nxt[:, None])
        self.positions.add_(1)
        self.write_at.add_(1)
        self.step_no.add_(1)

    def rehearse(self, record=None) -> None:
        """Two steps on a side stream (CUDA graphs need a warm-up), optionally `record` one more, then
        put every step counter, the mask and the last token back: the rehearsal leaves no trace in the samples."""
        buffers = (self.mask, self.tokens, self.positions, self.write_at, self.step_no)
        saved = [t.clone() for t in buffers]
        try:
            stream = torch.cuda.Stream() if self.tokens.is_cuda else None
            if stream is not None:
                stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext():
                for _ in range(2):
                    self.advance()
            if stream is not None:
                torch.cuda.current_stream().wait_stream(stream)
            if record is not None:
                record()
        finally:
            for buf, value in zip(buffers, saved):
                buf.copy_(value)

    def capture(self) -> bool:
        """Record `advance` as a CUDA graph; False (and eager steps) where that fails."""
        graph = torch.cuda.CUDAGraph()

        def record():
            with torch.cuda.graph(graph):
                self.advance()

        try:
            self.rehearse(record)
            self.graph = graph
        except Exception as err:  # noqa: BLE001 - any capture failure falls back to eager steps
            print(f"passuntil: CUDA graph capture failed ({type(err).__name__}: {err}); decoding eagerly")
            self.graph = None
        return self.graph is not None

    def run_step(self):
        if self.graph is not None:
            self.graph.replay()
        else:
            self.advance()
