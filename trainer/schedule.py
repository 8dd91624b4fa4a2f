"""Learning-rate schedules as pure functions of the step, so a resumed run needs only the step."""
from __future__ import annotations

import math

from trainer.config import ScheduleConfig


def warmup_steps(cfg: ScheduleConfig, total_steps: int) -> int:
    if cfg.warmup_steps is not None:
        return min(cfg.warmup_steps, total_steps)
    return int(cfg.warmup_fraction * total_steps)


def lr_multiplier(step: int, total_steps: int, cfg: ScheduleConfig) -> float:
    """Multiplier on the peak LR for optimizer step `step` (0-based)."""
    warm = warmup_steps(cfg, total_steps)
    if step < warm:
        return (step + 1) / warm
    floor = cfg.min_lr_ratio
    if cfg.kind == "constant":
        return 1.0
    if cfg.kind == "cosine":
        # Decays to this run's own budget: Hoffmann et al. showed a cosine cut short mis-states the loss.
        progress = (step - warm) / max(1, total_steps - warm)
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    # wsd: warmup, a long stable phase at peak, then a short decay (Hu et al. 2024 / MiniCPM).
    decay_steps = max(1, int(round(cfg.decay_fraction * total_steps)))
    decay_start = total_steps - decay_steps
    if step < decay_start:
        return 1.0
    progress = min(1.0, (step - decay_start + 1) / decay_steps)
    shape = progress if cfg.decay_shape == "linear" else math.sqrt(progress)
    return 1.0 - (1 - floor) * shape
