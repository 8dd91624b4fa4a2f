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
    theirs = AutoModelForCausalLM.from_pretrained(tmp_path, dtype=torch.float32).eval()
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


@pytest.mark.parametrize("tie", [True, False])
def test_training_loss_and_gradients_match_hugging_face(tmp_path, tie):
    """The fused output projection + cross-entropy gives HF's loss and every parameter's gradient."""
    from trainer.hf_convert import hf_names

    torch.manual_seed(1)
    cfg = ModelConfig(vocab_size=300, d_model=64, n_layers=2, n_heads=4, n_kv_heads=2, max_seq_len=64, tie_embeddings=tie)
    ours = Transformer(cfg)
    save_hf_checkpoint(tmp_path, ours.state_dict(), cfg)
    theirs = AutoModelForCausalLM.from_pretrained(tmp_path, dtype=torch.float32)
    tokens = torch.randint(0, cfg.vocab_size, (3, 40))
    ours_loss = ours(tokens[:, :-1], tokens[:, 1:])
    logits = theirs(input_ids=tokens[:, :-1]).logits
    theirs_loss = torch.nn.functional.cross_entropy(logits.reshape(-1, cfg.vocab_size), tokens[:, 1:].reshape(-1))
    assert abs(ours_loss.item() - theirs_loss.item()) < 1e-5
    ours_loss.backward()
    theirs_loss.backward()
    theirs_params = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        other = theirs_params[hf_names(cfg)[name]].grad
        assert torch.allclose(param.grad, other, atol=1e-6, rtol=1e-4), (name, (param.grad - other).abs().max())
    with torch.no_grad():  # the evaluation path (plain cross-entropy) agrees with the training path
        assert abs(ours(tokens[:, :-1], tokens[:, 1:]).item() - ours_loss.item()) < 1e-6


def test_fused_loss_under_bf16_autocast_matches_the_unfused_pair():
    """Under autocast the fused head runs its matmuls in bf16 and its softmax in fp32, like autocast does."""
    import torch.nn.functional as F

    from trainer.fused_loss import linear_cross_entropy

    torch.manual_seed(2)
    hidden = torch.randn(64, 32, requires_grad=True)
    weight = (torch.randn(100, 32) * 0.2).requires_grad_()
    targets = torch.randint(0, 100, (64,))
    results = []
    for loss_fn in (linear_cross_entropy, lambda h, w, t: F.cross_entropy(F.linear(h, w).float(), t)):
        hidden.grad = weight.grad = None
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = loss_fn(hidden, weight, targets)
        loss.backward()
        results.append((loss.item(), hidden.grad.clone(), weight.grad.clone()))
    (fused_loss, fused_h, fused_w), (ref_loss, ref_h, ref_w) = results
    assert abs(fused_loss - ref_loss) < 1e-4
    assert fused_h.dtype == ref_h.dtype == torch.float32 and fused_w.dtype == torch.float32
    for fused, ref in ((fused_h, ref_h), (fused_w, ref_w)):  # the same bf16 matmuls (fp32 differs by ~0.5%)
        assert (fused - ref).abs().max() <= 1e-3 * ref.abs().max(), ((fused - ref).abs().max(), ref.abs().max())
