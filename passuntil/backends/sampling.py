"""Token draws that do not depend on batching, and stop-string detection without per-row work.

Draws. Row j of a request with seed s takes, at decoding step t, the token whose cumulative
probability interval holds u(s, j, t), a uniform number in [0, 1) with 53 random bits made by an
integer hash of the three counters (inverse-CDF sampling: exact for the categorical distribution up
to float64 rounding of the cumulative sum). A row's tokens therefore depend only on its own logits,
not on which other rows share the forward pass, how many there are, or when they stop: the
scheduler may pack requests freely, resume stays exact, and everything runs as a handful of
tensor operations over the batch (no generator state, so it can sit inside a CUDA graph).

Stops. A stop string can only be completed by a token whose text holds its last character (or by a
token whose text is not whole on its own: partial UTF-8 bytes, empty pieces). `StopMatcher` marks
those token ids once; the decode loop then decodes only the few rows whose newest token is such a
candidate, and checks the same window of recent tokens the per-row loop checked before.
"""
from __future__ import annotations

import numpy as np
import torch

MASK32 = 0xFFFFFFFF
STOP_WINDOW = 16  # tokens decoded to look for a stop string; stop strings are a few tokens long


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash on int64 tensors; constants < 2^28 keep every product inside int64."""
    x = ((x >> 16) ^ x) * 0x45D9F3B & MASK32
    x = ((x >> 16) ^ x) * 0x45D9F3B & MASK32
    return (x >> 16) ^ x


def uniforms(seeds: torch.Tensor, rows: torch.Tensor, step: torch.Tensor | int) -> torch.Tensor:
    """float64 uniforms in [0, 1), one per row, from (request seed, sample index, step); all int64 tensors."""
    key = _mix32(_mix32(seeds & MASK32) ^ (rows & MASK32))
    step = torch.as_tensor(step, device=seeds.device, dtype=torch.int64)
    hi = _mix32(key ^ _mix32((2 * step) & MASK32))
    lo = _mix32(_mix32(key + 0x2545F49) ^ _mix32((2 * step + 1) & MASK32))
    bits = (hi >> 6) * (1 << 27) + (lo >> 5)  # 26 + 27 = 53 bits
    return bits.double() * (1.0 / (1 << 53))


def draw(logits: torch.Tensor, u: torch.Tensor, temperature: float, top_p: float) -> torch.Tensor:
    """One token per row of `logits` (R, V): inverse CDF of softmax(logits / T), nucleus-truncated."""
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    order = None
    if top_p < 1.0:
        probs, order = probs.sort(dim=-1, descending=True)
        keep = probs.cumsum(-1) - probs < top_p  # always keeps the most likely token
        probs = probs * keep
    cdf = probs.double().cumsum(-1)
    target = (u * cdf[:, -1]).unsqueeze(-1)
    index = torch.searchsorted(cdf, target, right=True).clamp_(max=probs.shape[-1] - 1)
    return index.squeeze(-1) if order is None else order.gather(-1, index).squeeze(-1)


class StopMatcher:
    """Which token ids can complete a stop string, and the per-row check for the rows that need it."""

    def __init__(self, tokenizer, stops: tuple[str, ...], eos: int | None):
        self.tokenizer, self.stops, self.eos = tokenizer, tuple(s for s in stops if s), eos
        size = max(len(tokenizer), max(tokenizer.get_vocab().values(), default=0) + 1)
        self.candidate = np.zeros(size, dtype=bool)
        if self.stops:
            last = {s[-1] for s in self.stops}
            for token_id in range(size):
                piece = tokenizer.decode([token_id])
                self.candidate[token_id] = (not piece or "\ufffd" in piece or any(c in piece for c in last)
                                            or (piece != piece.strip() and any(c.isspace() for c in last)))
            # SentencePiece drops a token's leading space when decoded alone: whitespace stops check every token.
            if any(c.isspace() for c in last) and getattr(tokenizer, "is_fast", True) is False:
                self.candidate[:] = True

    def ends(self, tokens: np.ndarray, start: int, done: np.ndarray, end: np.ndarray) -> None:
        """Scan columns start.. of tokens (R, T) for rows not yet done; mark done rows and their end (exclusive)."""
        block = tokens[:, start:]
        live = ~done
        hits_eos = (block == self.eos) if self.eos is not None else np.zeros(block.shape, dtype=bool)
        hits = hits_eos | (self.candidate[np.clip(block, 0, len(self.candidate) - 1)] if self.stops else False)
        for row in np.flatnonzero(live & hits.any(axis=1)):
            for col in np.flatnonzero(hits[row]):
                t = start + col
                if hits_eos[row, col]:
                    done[row], end[row] = True, t + 1
                    break
                tail = self.tokenizer.decode(tokens[row, max(0, t + 1 - STOP_WINDOW):t + 1].tolist())
                if any(s in tail for s in self.stops):
                    done[row], end[row] = True, t + 1
                    break

    def text(self, tokens: list[int]) -> str:
        """The completion as the per-row loop returned it: without the final end-of-text, cut at the first stop."""
        if tokens and tokens[-1] == self.eos:
            tokens = tokens[:-1]
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        cut = min([text.find(s) for s in self.stops if s in text], default=len(text))
        return text[:cut]
