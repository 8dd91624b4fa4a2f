"""Our model and Hugging Face's LlamaForCausalLM are the same function; checkpoints load unchanged."""
from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM

from trainer.config import ModelConfig
from trainer.hf_convert import from_hf_state_dict, load_hf_checkpoint, save_hf_checkpoint, to_hf_state_dict
from trainer.model import Transformer


@pytest.mark.parametrize("tie,kv_heads", [(True, 2), (False, 4), (True, 1)])
def test_logits_match_hugging_face_llama(tmp_path, tie, kv_heads):
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=300, d_model=64, n_layers=3, n_heads=4, n_kv_heads=kv_heads, max_seq_len=64,
                      tie_embeddings=tie, rope_theta=500.0)
    ours = Transformer(cfg).eval()
    # Perturb the norm gains so a mismatched norm would show.
    with torch.no_grad():
        for name, p in ours.named_parameters():
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.1)
    save_hf_checkpoint(tmp_path, ours.state_dict(), cfg)
    theirs = AutoModelForCausalLM.from_pretrained(tmp_path, torch_dtype=torch.float32).eval()
    assert type(theirs).__name__ == "LlamaForCausalLM"
    tokens = torch.randint(0, cfg.vocab_size, (2, 48))
    with torch.no_grad():
        ours_logits = ours(tokens)
        theirs_logits = theirs(tokens).logits
    assert torch.allclose(ours_logits, theirs_logits, atol=1e-5, rtol=0), (ours_logits - theirs_logits).abs().max()


def test_conversion_round_trip_is_lossless(tmp_path):
    cfg = ModelConfig(vocab_size=128, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, tie_embeddings=False)
    model = Transformer(cfg)
    state = model.state_dict()
    back = from_hf_state_dict(to_hf_state_dict(state, cfg), cfg)
    assert set(back) == set(state)
    for key in state:
        assert torch.equal(back[key], state[key]), key
    save_hf_checkpoint(tmp_path, state, cfg, extra={"emergent_suite": {"val_loss": 1.25}})
    loaded_cfg, loaded = load_hf_checkpoint(tmp_path)
    assert loaded_cfg == cfg
    assert all(torch.equal(loaded[k], state[k]) for k in state)
