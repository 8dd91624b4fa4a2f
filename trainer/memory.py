"""What a run needs against what this machine (or its GPUs) has: weights, gradients and Adam moments per parameter.

Apart from config.py so that the config stays plain data (no torch, no FLOP counts): config <- flops <- memory.
"""
from __future__ import annotations

import os

from contracts.errors import ConfigError
from trainer.config import TrainConfig
from trainer.flops import param_counts

TRAINING_BYTES_PER_PARAM = 16  # fp32 weights and gradients, and Adam's two moments


def host_memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def launched_processes() -> int:
    """How many processes torchrun launched (WORLD_SIZE); 1 outside it."""
    return max(1, int(os.environ.get("WORLD_SIZE", "1") or 1))


def check_fits_memory(cfg: TrainConfig) -> None:
    """Refuse a model whose weights, gradients and Adam moments (TRAINING_BYTES_PER_PARAM) exceed the
    memory of every device the run could use; better now than an out-of-memory kill after minutes."""
    params = param_counts(cfg.model)["params"]
    need = TRAINING_BYTES_PER_PARAM * params
    world = launched_processes()
    have = host_memory_bytes()
    where = "this machine's memory"
    if cfg.device != "cpu":
        import torch

        if torch.cuda.is_available():
            have, where = torch.cuda.get_device_properties(0).total_memory, "the GPU's memory"
    if need > have * world:
        raise ConfigError(f"the model has {params:.3g} parameters and needs about {need / 2**30:,.0f} GiB for weights, "
                          f"gradients and optimizer state, more than {where} ({have * world / 2**30:,.0f} GiB); "
                          "choose a smaller model")
