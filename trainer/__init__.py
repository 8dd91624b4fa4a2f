"""A compact Megatron-style trainer for ladders of LLaMA-style models.

Output is a run directory (see docs/CONTRACTS.md): Hugging Face checkpoints that carry their
pre-training (validation) loss, plus checkpoints.jsonl and metrics.jsonl.
"""
