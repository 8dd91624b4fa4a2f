"""Training throughput: our model and loop against a plain Hugging Face LlamaForCausalLM loop.

Both sides train the same shape on the same random batches with the same AdamW settings in this
process, one step each in turn (the order flipping every step), so that machine noise hits both
alike; the figures are tokens/s at the median step time and the ratio of median step times HF / ours.
(Timing rounds of ten steps instead swung the ratio between 0.93x and 1.05x on this 2-core machine.) MFU is printed where the device's peak is known (GPUs in bf16);
on CPU it is "unknown".

    python benchmarks/train_throughput.py                 # the tiny ladder's rungs, fp32 on CPU
    python benchmarks/train_throughput.py --shapes 768x12x12 --device cuda --precision bf16 --compile
"""
from __future__ import annotations

import argparse
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
    """One optimizer step, identical for both sides: AdamW (fused on GPU), clipping, zeroing."""
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


def ours_step(cfg: ModelConfig, device, autocast):
    torch.manual_seed(0)
    model = Transformer(cfg).to(device)
    return model, training_step(model, model, device, autocast)


def hf_step(cfg: ModelConfig, device, autocast):
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(to_hf_config(cfg)).to(device)
    # HF shifts the labels itself, so it gets the inputs again as labels.
    return model, training_step(model, lambda x, y: model(input_ids=x, labels=x).loss, device, autocast)


def step_time(step, batch, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    step(*batch)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def paired_median_times(runners: dict, batches: list, device, rounds: int) -> dict[str, float]:
    """Median seconds per step of each runner, the runners taking turns step by step."""
    names = list(runners)
    times = {name: [] for name in names}
    for i in range(rounds * len(batches)):
        batch = batches[i % len(batches)]
        for name in names if i % 2 == 0 else names[::-1]:
            times[name].append(step_time(runners[name], batch, device))
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="*", help="d_model x layers x heads (default: the tiny ladder's rungs)")
    parser.add_argument("--vocab", type=int, default=2048)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=10, help="distinct batches (each timed once per round)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--compile", action="store_true", help="torch.compile both models' blocks")
    args = parser.parse_args()

    device = torch.device(args.device)
    shapes = [parse_shape(s, args.vocab, args.seq_len) for s in args.shapes] if args.shapes else tiny_shapes()
    peak = device_peak_flops(device, args.precision)

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16")

    print(f"device {device} ({torch.get_num_threads()} threads), {args.precision}, batch {args.batch} x seq {args.seq_len}, "
          f"compile={args.compile}")
    header = f"{'shape':>14} {'params':>8} {'ours tok/s':>11} {'HF tok/s':>10} {'ratio':>6} {'MFU':>7}"
    print(header)
    print("-" * len(header))
    for cfg in shapes:
        cfg.max_seq_len = max(cfg.max_seq_len, args.seq_len)
        runners = {}
        for name, build in (("ours", ours_step), ("hf", hf_step)):
            model, step = build(cfg, device, autocast)
            if args.compile:
                layers = model.layers if name == "ours" else model.model.layers
                for layer in layers:
                    layer.compile()
            runners[name] = step
        gen = torch.Generator().manual_seed(1)
        inputs = [torch.randint(0, cfg.vocab_size, (args.batch, args.seq_len), generator=gen).to(device) for _ in range(args.steps)]
        batches = [(x, torch.roll(x, -1, dims=1)) for x in inputs]
        for step in runners.values():  # warm-up (and compilation)
            for batch in batches[:3]:
                step_time(step, batch, device)
        seconds = paired_median_times(runners, batches, device, args.rounds)
        tokens = args.batch * args.seq_len
        ours, hf = tokens / seconds["ours"], tokens / seconds["hf"]
        util = mfu(ours, cfg, args.seq_len, peak)
        print(f"{cfg.d_model}x{cfg.n_layers}x{cfg.n_heads:<5} {param_counts(cfg)['params'] / 1e6:7.2f}M {ours:11,.0f} "
              f"{hf:10,.0f} {ours / hf:5.2f}x {'unknown' if util is None else f'{util:.1%}':>7}")


if __name__ == "__main__":
    main()
