"""The batched HF sampler: the model's own function, exact sampling probabilities, stops where the
per-row loop stopped, and rows that do not depend on their batch-mates."""
from __future__ import annotations

import math

import pytest
import torch

from passuntil.backends import SampleRequest
from passuntil.backends.hf import HFBackend
from passuntil.backends.sampling import STOP_WINDOW

PROMPTS = ["Input: a, b, c\nOutput:", "Input: h, d, e\nOutput: h, d, e\nInput: c, g, a\nOutput:", "def answer():"]


@pytest.fixture(scope="module")
def backend(pattern_model):
    return HFBackend(str(pattern_model))


def test_static_decoder_is_the_models_function(backend):
    ids = backend.tokenizer(PROMPTS[1]).input_ids
    full = backend.model(input_ids=torch.tensor([ids])).logits[0].float()
    cut = len(ids) - 5
    _, _, last = backend.static.prefill(torch.tensor([ids[:cut]]))
    assert torch.allclose(last, full[cut - 1], atol=1e-4)
    # Decode the remaining tokens one step at a time through the static cache, two rows at once.
    from passuntil.backends.static_decode import DecodeState

    state = DecodeState(backend.static, 2, cut + 3, 8, torch.float32, backend.device)
    backend._fill_prompts(state, [tuple(ids[:cut])], torch.zeros(2, dtype=torch.int64), cut + 3)
    state.positions.fill_(cut)
    state.write_at.fill_(cut + 3)
    for t in range(cut, len(ids)):
        state.mask.index_fill_(3, state.write_at, True)
        logits = backend.static.step(torch.tensor([ids[t]] * 2), state.positions, state.cache_k, state.cache_v,
                                     state.write_at, state.mask)
        # Both rows of the batch are the model's function (bitwise equality between rows does not hold under
        # multi-threaded BLAS, whose blocking depends on the row).
        assert torch.allclose(logits[0], full[t], atol=1e-4) and torch.allclose(logits[1], full[t], atol=1e-4)
        state.positions.add_(1)
        state.write_at.add_(1)


@torch.no_grad()
def _exact_probability(backend, prompt, target, temperature, top_p):
    """Teacher-forced probability that a sample starts with `target`, under temperature and nucleus truncation."""
    ids = backend.tokenizer(prompt).input_ids
    logits = backend.model(input_ids=torch.tensor([ids + target])).logits[0].float()
    p = 1.0
    for k, token in enumerate(target):
        probs = torch.softmax(logits[len(ids) - 1 + k] / temperature, -1).double()
        sorted_probs, order = probs.sort(descending=True)
        keep = sorted_probs.cumsum(-1) - sorted_probs < top_p
        kept = torch.zeros_like(probs).scatter(0, order, sorted_probs * keep)
        p *= float(kept[token] / kept.sum())
    return p


@pytest.mark.parametrize("temperature,top_p", [(1.0, 1.0), (0.8, 0.9)])
def test_pass_rates_match_the_teacher_forced_probability(backend, temperature, top_p):
    n, prompt = 4000, PROMPTS[0]
    rows = backend.sample_tokens([SampleRequest(prompt, n, 7, temperature, top_p, 3, ())])[0]
    for length in (1, 3):  # a likely event (first token) and a rarer one (all three tokens)
        counts = {}
        for row in rows:
            counts[tuple(row[:length])] = counts.get(tuple(row[:length]), 0) + 1
        for target, hits in sorted(counts.items(), key=lambda kv: -kv[1])[:3]:
            p = _exact_probability(backend, prompt, list(target), temperature, top_p)
            sd = math.sqrt(p * (1 - p) / n)
            assert abs(hits / n - p) <= 4.5 * sd + 1e-9, (target, hits / n, p)


def _per_row_reference(backend, tokens, stops):
    """The per-row loop's rule (before batching): stop at end-of-text, or once the last 16 tokens' text holds a stop."""
    kept = []
    for token in tokens:
        kept.append(token)
        if token == backend.eos:
            break
        if any(s in backend.tokenizer.decode(kept[-STOP_WINDOW:]) for s in stops):
            break
    if kept and kept[-1] == backend.eos:
        kept = kept[:-1]
    text = backend.tokenizer.decode(kept, skip_special_tokens=True)
    return text[:min([text.find(s) for s in stops if s in text], default=len(text))]


def test_stop_strings_cut_where_the_per_row_loop_cut(backend):
    stops = ("\n", ", g", "return")
    requests = [SampleRequest(p, 48, 100 + i, 1.0, 1.0, 24, stops) for i, p in enumerate(PROMPTS)]
    free = backend.sample_tokens([SampleRequest(r.prompt, r.n, r.seed, 1.0, 1.0, 24, ()) for r in requests])
    got = backend.sample(requests)
    stopped = 0
    for texts, rows in zip(got, free):
        for text, tokens in zip(texts, rows):
            assert text == _per_row_reference(backend, tokens, stops)
            stopped += len(text) < len(backend.tokenizer.decode(tokens, skip_special_tokens=True))
    assert stopped > 20  # the stops did cut


def test_rows_do_not_depend_on_their_batch_mates(backend):
    alone = [backend.sample_tokens([SampleRequest(p, 16, 5, 1.0, 1.0, 12, ("\n",))])[0] for p in PROMPTS]
    packed = backend.sample_tokens([SampleRequest(p, 16, 5, 1.0, 1.0, 12, ("\n",)) for p in PROMPTS])
    assert packed == alone
    static, backend.static = backend.static, None
    try:
        generic = backend.sample_tokens([SampleRequest(p, 16, 5, 1.0, 1.0, 12, ("\n",)) for p in PROMPTS])
    finally:
        backend.static = static
    assert generic == alone  # the model's own forward and cache give the same samples


def test_graph_capture_rehearsal_leaves_no_trace(backend, monkeypatch):
    """On CUDA, capture warms up on the live buffers and restores them; on CPU the same rehearsal must
    give the samples an undisturbed run gives (the capture itself is checked on GPU by the benchmark)."""
    from passuntil.backends.static_decode import DecodeState

    requests = [SampleRequest(p, 8, 9, 1.0, 1.0, 12, ("\n",)) for p in PROMPTS]
    plain = backend.sample_tokens(requests)
    backend._states.clear()
    monkeypatch.setattr(DecodeState, "capture", lambda self: self.rehearse() or False)
    backend.cuda_graphs = True
    try:
        rehearsed = backend.sample_tokens(requests)
    finally:
        backend.cuda_graphs = False
        backend._states.clear()
    assert rehearsed == plain
