"""PassUntil figures, each against a baseline measured in the same run.

1. Sampling throughput of the Hugging Face backend (prefill once, sample n continuations in
   lockstep from the shared cache) against naive per-sample `model.generate` on the same model.
2. Sample efficiency: samples PassUntil needs to estimate p to 20% relative error (RMSE over
   replications, the unbiased estimator), for p from 1e-1 to 1e-4, against the fixed per-instance
   budget that reaches the same error. A fixed budget must be sized for the hardest instance it
   may meet; PassUntil spends r/p on each.

    python benchmarks/passuntil_throughput.py [--model CKPT] [--samples 64] [--prompt-tokens 256]
"""
from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def build_model(out: Path, vocab: int = 2048) -> Path:
    """A random 4-layer model with a byte-level tokenizer: throughput does not depend on training."""
    from trainer.config import ModelConfig
    from trainer.corpus import build_default_corpus
    from trainer.data_prepare import expand_inputs, read_documents, train_tokenizer
    from trainer.hf_convert import save_hf_checkpoint
    from trainer.model import Transformer

    corpus = build_default_corpus(out / "corpus")
    docs = [d for f in expand_inputs([corpus]) for d in read_documents(f)]
    tokenizer = train_tokenizer(docs, vocab)
    cfg = ModelConfig(vocab_size=len(tokenizer), d_model=256, n_layers=4, n_heads=4, max_seq_len=1024)
    torch.manual_seed(0)
    save_hf_checkpoint(out / "model", Transformer(cfg).state_dict(), cfg, tokenizer)
    return out / "model"


def throughput(model_path: Path, samples: int, prompt_tokens: int, new_tokens: int, rounds: int) -> None:
    from passuntil.backends import SampleRequest
    from passuntil.backends.hf import HFBackend

    backend = HFBackend(str(model_path))
    words = "the model reads a long prompt before it writes its answer " * 200
    ids = backend.tokenizer(words).input_ids[:prompt_tokens]
    prompt = backend.tokenizer.decode(ids)
    request = SampleRequest(prompt, samples, 0, 1.0, 1.0, new_tokens, ())  # no stop: every sample runs full length
    model, tok = backend.model, backend.tokenizer
    prompt_ids = tok(prompt, return_tensors="pt").input_ids

    def shared():
        return sum(len(tok(t).input_ids) for t in backend.sample_one(request))

    def naive():
        made = 0
        for k in range(samples):
            torch.manual_seed(k)
            out = model.generate(prompt_ids, do_sample=True, temperature=1.0, top_p=1.0, max_new_tokens=new_tokens,
                                 min_new_tokens=new_tokens, pad_token_id=tok.eos_token_id)
            made += out.shape[1] - prompt_ids.shape[1]
        return made

    shared()  # warm-up
    times = {"shared prefix": [], "naive generate": []}
    for _ in range(rounds):
        for name, fn in (("shared prefix", shared), ("naive generate", naive)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    print(f"Throughput: {samples} samples x {new_tokens} new tokens after a {prompt_ids.shape[1]}-token prompt, "
          f"{torch.get_num_threads()} threads, median of {rounds} rounds")
    rates = {name: samples / float(np.median(t)) for name, t in times.items()}
    for name, rate in rates.items():
        print(f"  {name:<15} {rate:8.1f} samples/s")
    print(f"  ratio           {rates['shared prefix'] / rates['naive generate']:8.2f}x (target >= 3x)")


def passuntil_samples_for_error(p: float, target: float, reps: int, rng) -> tuple[int, float, float]:
    """Smallest r whose unbiased estimate reaches the relative RMSE target; its mean sample count."""
    for r in range(2, 400):
        k = r + rng.negative_binomial(r, p, size=reps)  # trials until the r-th pass
        est = (r - 1) / (k - 1)
        rel_rmse = math.sqrt(np.mean((est - p) ** 2)) / p
        if rel_rmse <= target:
            return r, float(k.mean()), rel_rmse
    raise RuntimeError("target not reached")


def fixed_budget_for_error(p: float, target: float) -> int:
    # Binomial: relative standard error sqrt((1 - p) / (n p)) <= target.
    return math.ceil((1 - p) / (p * target ** 2))


def efficiency(target: float, reps: int) -> None:
    rng = np.random.default_rng(0)
    ps = [1e-1, 1e-2, 1e-3, 1e-4]
    print(f"\nSample efficiency: samples to reach {target:.0%} relative error ({reps:,} simulated replications)")
    print(f"  {'p':>8} {'r':>4} {'PassUntil':>12} {'rel. RMSE':>10} {'fixed, this p':>14} {'fixed, sized for 1e-4':>22}")
    worst = fixed_budget_for_error(min(ps), target)
    total_pu = 0.0
    for p in ps:
        r, mean_k, err = passuntil_samples_for_error(p, target, reps, rng)
        total_pu += mean_k
        print(f"  {p:>8.0e} {r:>4} {mean_k:>12,.0f} {err:>10.3f} {fixed_budget_for_error(p, target):>14,} {worst:>22,}")
    print(f"  one instance at each p: PassUntil {total_pu:,.0f} samples vs a fixed budget {worst * len(ps):,} "
          f"({worst * len(ps) / total_pu:.1f}x more)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="Checkpoint directory (default: a random 4-layer model built here).")
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--prompt-tokens", type=int, default=256)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--target", type=float, default=0.2)
    parser.add_argument("--reps", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(args.model) if args.model else build_model(Path(tmp))
        throughput(model, args.samples, args.prompt_tokens, args.new_tokens, args.rounds)
    efficiency(args.target, args.reps)


if __name__ == "__main__":
    main()
