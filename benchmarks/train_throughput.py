"""Training throughput: our model and step against the Hugging Face LlamaForCausalLM loop a competent
user would run: `use_cache=False` (no inference cache built in the training forward), the same
torch.compile scope, the same fused AdamW, the same clipping, no host synchronisation in the step.

All sides train the same shape on the same random batches in this process, taking turns (the order
flipping every turn) so that machine noise hits them alike; a turn is `--repeat` steps queued back
to back and synchronised once. Figures are tokens/s at the median turn and ratios of medians.
(Timing rounds of ten steps instead swung the ratio between 0.93x and 1.05x on a 2-core machine.)
MFU is printed where the device's peak is known (GPUs in bf16); on CPU it is "unknown".

    python benchmarks/train_throughput.py                 # the tiny ladder's rungs, fp32 on CPU
    python benchmarks/train_throughput.py --shapes 768x12x12 1024x24x16 --vocab 32000 --seq-len 2048 \
        --batch 16 --device cuda --precision bf16 --compile model
    --sides ours,hf,ours-blocks,hf-blocks   # also per-block compile on both sides, to measure that lever
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from trainer.config import ModelConfig
from trainer.flops import device_peak_flops, mfu, param_counts
from trainer.hf_convert import to_hf_config
from trainer.ladder import load_spec, plan
from trainer.model import Transformer


def tiny_shapes() -> list[ModelConfig]:
    seen, shapes = set(), []
    for run in plan(load_spec("tiny"), vocab_size=2048):
        if run.rung not in seen:
            seen.add(run.rung)
            shapes.append(run.config.model)
    return shapes


def parse_shape(text: str, vocab: int, seq_len: int) -> ModelConfig:
    d_model, layers, heads = (int(x) for x in text.split("x"))
    return ModelConfig(vocab_size=vocab, d_model=d_model, n_layers=layers, n_heads=heads, max_seq_len=seq_len)


def training_step(model: torch.nn.Module, loss_of, device, autocast):
    """One optimizer step, identical for every side: AdamW (fused on GPU), clipping, zeroing; no host sync."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1,
                            fused=device.type == "cuda")

    def step(x, y):
        with autocast():
            loss = loss_of(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    return step


def compiled(model: torch.nn.Module, layers, scope: str):
    """The module to call: the whole model compiled, its blocks compiled in place, or eager."""
    if scope == "blocks":
        for layer in layers:
            layer.compile()
    return torch.compile(model) if scope == "model" else model


def ours_step(cfg: ModelConfig, device, autocast, scope: str):
    torch.manual_seed(0)
    model = Transformer(cfg).to(device)
    return training_step(model, compiled(model, model.layers, scope), device, autocast)


def hf_step(cfg: ModelConfig, device, autocast, scope: str):
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    hf_config = to_hf_config(cfg)
    hf_config.use_cache = False  # a training forward must not build an inference KV cache
    model = LlamaForCausalLM(hf_config).to(device)
    call = compiled(model, model.model.layers, scope)
    # HF shifts the labels itself, so it gets the inputs again as labels.
    return training_step(model, lambda x, y: call(input_ids=x, labels=x, use_cache=False).loss, device, autocast)


SIDES = {"ours": (ours_step, None), "hf": (hf_step, None), "ours-blocks": (ours_step, "blocks"),
         "hf-blocks": (hf_step, "blocks"), "ours-eager": (ours_step, "none"), "hf-eager": (hf_step, "none")}


def turn_time(step, batches, device) -> float:
    """Seconds per step over `len(batches)` steps queued back to back, synchronised once."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for batch in batches:
        step(*batch)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / len(batches)


def paired_median_times(runners: dict, batches: list, device, rounds: int, repeat: int) -> dict[str, float]:
    """Median seconds per step of each runner, the runners taking turns of `repeat` steps."""
    names = list(runners)
    times = {name: [] for name in names}
    turns = max(1, rounds * len(batches) // repeat)
    for i in range(turns):
        turn = [batches[(i * repeat + k) % len(batches)] for k in range(repeat)]
        for name in names if i % 2 == 0 else names[::-1]:
            times[name].append(turn_time(runners[name], turn, device))
    return {name: statistics.median(t) for name, t in times.items()}


def measure_shape(cfg: ModelConfig, args, device, autocast) -> dict[str, float]:
    """tokens/s of every side at one shape."""
    cfg.max_seq_len = max(cfg.max_seq_len, args.seq_len)
    runners = {}
    for side in args.sides:
        build, scope = SIDES[side]
        runners[side] = build(cfg, device, autocast, scope or args.compile)
    gen = torch.Generator().manual_seed(1)
    inputs = [torch.randint(0, cfg.vocab_size, (args.batch, args.seq_len), generator=gen).to(device) for _ in range(args.steps)]
    batches = [(x, torch.roll(x, -1, dims=1)) for x in inputs]
    for step in runners.values():  # warm-up (and compilation)
        turn_time(step, batches[:3], device)
    seconds = paired_median_times(runners, batches, device, args.rounds, args.repeat)
    return {side: args.batch * args.seq_len / s for side, s in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="*", help="d_model x layers x heads (default: the tiny ladder's rungs)")
    parser.add_argument("--vocab", type=int, default=2048)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10, help="distinct batches (each timed once per round)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=None, help="steps per timed turn (default 1 on CPU, 5 on GPU)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--compile", nargs="?", const="model", default="none", choices=["none", "blocks", "model"],
                        help="torch.compile scope for the ours and hf sides (--compile alone: the whole model)")
    parser.add_argument("--sides", default="ours,hf", help=f"comma-separated, from {', '.join(SIDES)}; the first is the reference")
    parser.add_argument("--json", help="append one JSON line per shape to this file")
    args = parser.parse_args()
    args.sides = args.sides.split(",")
    device = torch.device(args.device)
    args.repeat = args.repeat or (5 if device.type == "cuda" else 1)
    shapes = [parse_shape(s, args.vocab, args.seq_len) for s in args.shapes] if args.shapes else tiny_shapes()
    peak = device_peak_flops(device, args.precision)
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16")

    print(f"{card}: {args.precision}, batch {args.batch} x seq {args.seq_len}, vocab {args.vocab}, compile={args.compile}, "
          f"turns of {args.repeat} step(s); HF with use_cache=False, same compile and fused AdamW")
    ref = args.sides[0]
    header = f"{'shape':>14} {'params':>8} " + " ".join(f"{side + ' tok/s':>16}" for side in args.sides)
    header += " " + " ".join(f"{ref + '/' + side:>16}" for side in args.sides[1:]) + f" {'MFU ' + ref:>9}"
    print(header)
    print("-" * len(header))
    for cfg in shapes:
        rates = measure_shape(cfg, args, device, autocast)
        util = {side: mfu(r, cfg, args.seq_len, peak) for side, r in rates.items()}
        line = f"{cfg.d_model}x{cfg.n_layers}x{cfg.n_heads:<5} {param_counts(cfg)['params'] / 1e6:7.2f}M "
        line += " ".join(f"{rates[side]:16,.0f}" for side in args.sides) + " "
        line += " ".join(f"{rates[ref] / rates[side]:15.3f}x" for side in args.sides[1:])
        line += f" {'unknown' if util[ref] is None else f'{util[ref]:.1%}':>9}"
        print(line, flush=True)
        if args.json:
            with open(args.json, "a") as fh:
                fh.write(json.dumps({"card": card, "shape": f"{cfg.d_model}x{cfg.n_layers}x{cfg.n_heads}",
                                     "params": param_counts(cfg)["params"], "batch": args.batch, "seq_len": args.seq_len,
                                     "vocab": args.vocab, "precision": args.precision, "compile": args.compile,
                                     "tokens_per_s": rates, "mfu": util}) + "\n")


if __name__ == "__main__":
    main()
