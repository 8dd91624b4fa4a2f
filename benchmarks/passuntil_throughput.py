"""PassUntil figures, each against a baseline measured in the same run.

1. Sampling throughput of the Hugging Face backend (every request of a call decoded as one batch,
   each prompt prefilled once, static cache, CUDA graphs on GPU; stop strings on) against what a
   competent user runs instead: one batched `model.generate(..., num_return_sequences=n,
   stop_strings=...)` per prompt, and vLLM where it is installed. Naive per-sample `generate` is
   printed as context only.
2. Sample efficiency: samples PassUntil needs to estimate p to 20% relative error (RMSE over
   replications, the unbiased estimator), for p from 1e-1 to 1e-4, against the fixed per-instance
   budget that reaches the same error. A fixed budget must be sized for the hardest instance it
   may meet; PassUntil spends r/p on each.

    python benchmarks/passuntil_throughput.py [--model CKPT] [--samples 256] [--prompt-tokens 256]
    python benchmarks/passuntil_throughput.py --device cuda --shape 768x12x12 --new-tokens 64
"""
from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path
from textwrap import indent

import numpy as np
import torch

from contracts.table import format_table

STOPS = ("\n\n", "Question:")


def build_model(out: Path, vocab: int = 2048, shape: str = "256x4x4") -> Path:
    """A random model with a byte-level tokenizer: throughput does not depend on training."""
    from trainer.config import ModelConfig
    from trainer.corpus import build_default_corpus
    from trainer.data_prepare import expand_inputs, read_documents, train_tokenizer
    from trainer.hf_convert import save_hf_checkpoint
    from trainer.model import Transformer

    corpus = build_default_corpus(out / "corpus")
    docs = [d for f in expand_inputs([corpus]) for d in read_documents(f)]
    tokenizer = train_tokenizer(docs, vocab)
    d_model, layers, heads = (int(x) for x in shape.split("x"))
    cfg = ModelConfig(vocab_size=len(tokenizer), d_model=d_model, n_layers=layers, n_heads=heads, max_seq_len=1024)
    torch.manual_seed(0)
    save_hf_checkpoint(out / "model", Transformer(cfg).state_dict(), cfg, tokenizer)
    return out / "model"


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _vllm_runner(model_path: Path, prompt: str, samples: int, new_tokens: int):
    """vLLM's batched sampling of the same request, built as `passuntil --backend vllm` builds it (its memory share
    of 0.2 of host memory on CPU, no chunked prefill there, prefix caching), or None where vLLM is not installed.
    vLLM's defaults on a 24 GiB CPU machine reserve 20.8 GiB of KV cache and its worker is killed."""
    try:
        import vllm  # noqa: F401
    except ImportError:
        return None
    from vllm import SamplingParams

    from passuntil.backends.vllm import VLLMBackend

    llm = VLLMBackend(str(model_path)).llm
    params = SamplingParams(n=samples, temperature=1.0, top_p=1.0, max_tokens=new_tokens, stop=list(STOPS), seed=0)
    return lambda: sum(len(o.token_ids) for o in llm.generate([prompt], params, use_tqdm=False)[0].outputs)


def throughput(model_path: Path, samples: int, prompt_tokens: int, new_tokens: int, rounds: int, device: str,
               naive_samples: int, use_vllm: bool) -> dict:
    from passuntil.backends import SampleRequest
    from passuntil.backends.hf import HFBackend

    backend = HFBackend(str(model_path), device=device)
    dev = backend.device
    words = "the model reads a long prompt before it writes its answer " * 200
    ids = backend.tokenizer(words).input_ids[:prompt_tokens]
    prompt = backend.tokenizer.decode(ids)
    model, tok = backend.model, backend.tokenizer
    prompt_ids = tok(prompt, return_tensors="pt").input_ids.to(dev)
    seed = [0]

    def ours():
        seed[0] += 1
        request = SampleRequest(prompt, samples, seed[0], 1.0, 1.0, new_tokens, STOPS)
        made = sum(len(row) for row in backend.sample_tokens([request])[0])
        _sync(dev)
        return made

    @torch.no_grad()
    def batched_generate():
        out = model.generate(prompt_ids, do_sample=True, temperature=1.0, top_p=1.0, top_k=0, max_new_tokens=new_tokens,
                             num_return_sequences=samples, stop_strings=list(STOPS), tokenizer=tok,
                             pad_token_id=tok.eos_token_id)
        _sync(dev)
        new = out[:, prompt_ids.shape[1]:]
        return int((new != tok.eos_token_id).sum())

    @torch.no_grad()
    def naive():
        made = 0
        for k in range(naive_samples):
            torch.manual_seed(k)
            out = model.generate(prompt_ids, do_sample=True, temperature=1.0, top_p=1.0, top_k=0, max_new_tokens=new_tokens,
                                 stop_strings=list(STOPS), tokenizer=tok, pad_token_id=tok.eos_token_id)
            made += out.shape[1] - prompt_ids.shape[1]
        _sync(dev)
        return made

    runners = {"ours": (ours, samples), "batched generate": (batched_generate, samples), "naive generate": (naive, naive_samples)}
    vllm = _vllm_runner(model_path, prompt, samples, new_tokens) if use_vllm else None
    if vllm is not None:
        runners["vllm"] = (vllm, samples)
    for fn, _ in runners.values():  # warm-up: graphs, allocator, kernels
        fn()
    times = {name: [] for name in runners}
    tokens = {name: 0 for name in runners}
    for i in range(rounds):
        for name in (list(runners) if i % 2 == 0 else list(runners)[::-1]):
            fn, _ = runners[name]
            start = time.perf_counter()
            tokens[name] += fn()
            times[name].append(time.perf_counter() - start)
    rates = {name: runners[name][1] / float(np.median(t)) for name, t in times.items()}
    graphs_used = any(s.graph is not None for s in backend._states.values())
    card = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"{card}: n = {samples} samples x up to {new_tokens} new tokens after a {prompt_ids.shape[1]}-token prompt, "
          f"stop strings {list(STOPS)}, {model.num_parameters() / 1e6:.1f}M parameters, vocab {model.config.vocab_size}, "
          f"{next(model.parameters()).dtype}, median of {rounds} rounds; CUDA graphs: "
          f"{graphs_used}")
    if backend.cuda_graphs:  # the graphed steps must give the eager steps' samples
        request = SampleRequest(prompt, samples, 12345, 1.0, 1.0, new_tokens, STOPS)
        graphed = backend.sample_tokens([request])[0]
        backend.cuda_graphs = False
        backend._states.clear()
        eager = backend.sample_tokens([request])[0]
        same = sum(a == b for a, b in zip(graphed, eager))
        print(f"  CUDA-graph samples identical to eager samples: {same}/{samples}")
        start = time.perf_counter()
        ours()
        print(f"  (lever) ours without CUDA graphs: {samples / (time.perf_counter() - start):.1f} samples/s, one call")
    rows = [[name, f"{rate:.1f}", f"{tokens[name] / sum(times[name]):,.0f}",
             "" if name == "ours" else f"{rates['ours'] / rate:.2f}x",
             "context only: one sample per call" if name == "naive generate" else ""] for name, rate in rates.items()]
    print(indent(format_table(["backend", "samples/s", "new tokens/s", "ours / backend", "note"], rows, align="lrrrl"), "  "))
    return {"card": card, "samples": samples, "new_tokens": new_tokens, "prompt_tokens": int(prompt_ids.shape[1]),
            "params": model.num_parameters(), "samples_per_s": rates}


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
    worst = fixed_budget_for_error(min(ps), target)
    total_pu, rows = 0.0, []
    for p in ps:
        r, mean_k, err = passuntil_samples_for_error(p, target, reps, rng)
        total_pu += mean_k
        rows.append([f"{p:.0e}", r, f"{mean_k:,.0f}", f"{err:.3f}", f"{fixed_budget_for_error(p, target):,}", f"{worst:,}"])
    header = ["p", "r", "PassUntil", "rel. RMSE", "fixed, this p", f"fixed, sized for {min(ps):.0e}"]
    print(indent(format_table(header, rows, align="rrrrrr"), "  "))
    print(f"  one instance at each p: PassUntil {total_pu:,.0f} samples vs a fixed budget {worst * len(ps):,} "
          f"({worst * len(ps) / total_pu:.1f}x more)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="Checkpoint directory (default: a random model built here).")
    parser.add_argument("--shape", default="256x4x4", help="d_model x layers x heads of the random model")
    parser.add_argument("--vocab", type=int, default=2048, help="tokenizer size asked of the random model's BPE")
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--prompt-tokens", type=int, default=256)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--naive-samples", type=int, default=8, help="per-sample generate calls timed (context only)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-vllm", action="store_true")
    parser.add_argument("--skip-efficiency", action="store_true")
    parser.add_argument("--target", type=float, default=0.2)
    parser.add_argument("--reps", type=int, default=20000)
    parser.add_argument("--json", help="append the throughput figures as one JSON line to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(args.model) if args.model else build_model(Path(tmp), args.vocab, args.shape)
        result = throughput(model, args.samples, args.prompt_tokens, args.new_tokens, args.rounds, args.device,
                            args.naive_samples, not args.no_vllm)
    if args.json:
        with open(args.json, "a") as fh:
            fh.write(json.dumps(result) + "\n")
    if not args.skip_efficiency:
        efficiency(args.target, args.reps)


if __name__ == "__main__":
    main()
