"""A short run of the real training loop (trainer.loop.train), for its tokens/s and MFU.

It prepares the embedded corpus, trains one shape for a few dozen steps with the settings the
ladder uses on GPU (bf16, compile, global batch 32 x 2048, micro-batch 16) and prints the
throughput of the log windows after the first (which holds compilation).

    python benchmarks/real_run.py --shape 1024x24x16 --vocab 32000 --steps 40        # on a GPU
    python benchmarks/real_run.py --shape 64x2x2 --seq-len 128 --global-batch 8 --micro-batch 4 --steps 6 --no-compile
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="1024x24x16", help="d_model x layers x heads")
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--global-batch", type=int, default=32)
    parser.add_argument("--micro-batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--log-interval", type=int, default=5)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--json", help="append the figures as one JSON line to this file")
    args = parser.parse_args()

    from contracts.atomic import read_jsonl
    from trainer.config import ModelConfig, TrainConfig
    from trainer.corpus import build_default_corpus
    from trainer.data_prepare import prepare
    from trainer.flops import param_counts
    from trainer.loop import train

    d_model, layers, heads = (int(x) for x in args.shape.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        prepare([build_default_corpus(tmp / "corpus")], tmp / "data", vocab_size=min(args.vocab, 16000), val_fraction=0.02)
        model = ModelConfig(vocab_size=args.vocab, d_model=d_model, n_layers=layers, n_heads=heads, max_seq_len=args.seq_len)
        cfg = TrainConfig(model=model, data_dir=str(tmp / "data"), tokens=args.steps * args.global_batch * args.seq_len,
                          seq_len=args.seq_len, global_batch_size=args.global_batch, micro_batch_size=args.micro_batch,
                          val_tokens=args.seq_len * 4, log_interval=args.log_interval, compile=not args.no_compile)
        cfg.checkpoints.log_spaced = 0
        cfg.checkpoints.final = False
        start = time.perf_counter()
        train(cfg, tmp / "run", progress=False)
        wall = time.perf_counter() - start
        metrics = read_jsonl(tmp / "run" / "metrics.jsonl")
    windows = metrics[1:] or metrics  # the first window holds compilation
    tps = statistics.median(m["tokens_per_s"] for m in windows)
    util = [m["mfu"] for m in windows if m["mfu"] is not None]
    card = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    mfu_text = f"{statistics.median(util):.1%}" if util else "unknown"
    print(f"{card}: real loop, {args.shape} ({param_counts(model)['params'] / 1e6:.0f}M params, vocab {args.vocab}), "
          f"global batch {args.global_batch} x {args.seq_len}, micro-batch {args.micro_batch}, compile={cfg.compile}: "
          f"{tps:,.0f} tok/s, MFU {mfu_text} (median of {len(windows)} windows of {args.log_interval} steps; "
          f"{wall:.0f} s in all, final loss {metrics[-1]['loss']:.3f})")
    if args.json:
        with open(args.json, "a") as fh:
            fh.write(json.dumps({"card": card, "shape": args.shape, "tokens_per_s": tps,
                                 "mfu": statistics.median(util) if util else None, "wall_s": wall,
                                 "windows": metrics}) + "\n")


if __name__ == "__main__":
    main()
