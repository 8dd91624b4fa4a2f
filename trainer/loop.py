"""The training loop: AdamW, gradient accumulation, clipping, schedules, checkpoints, exact resume."""
from __future__ import annotations

import contextlib
import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from tqdm import tqdm

from trainer import parallel
from contracts.atomic import write_text_atomic
from trainer.logger import make_logger
from trainer.checkpoint import TRAINER_STATE, checkpoint_steps, latest_resumable, repair_run_dir, save_checkpoint
from trainer.config import TrainConfig
from trainer.data import TokenStream, validation_batches
from contracts.errors import ConfigError, RunDirError, TrainingDiverged
from trainer.flops import device_peak_flops, mfu, param_counts, training_flops
from trainer.hf_convert import load_hf_checkpoint
from trainer.model import Transformer
from contracts.provenance import provenance
from trainer.schedule import lr_multiplier


def build_optimizer(model: torch.nn.Module, cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    # No weight decay on norms (1-D gains): decaying them only fights the normalisation.
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.optim.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    kwargs = dict(lr=cfg.optim.lr, betas=cfg.optim.betas, eps=cfg.optim.eps)
    if device.type == "cuda":
        kwargs["fused"] = True
    return torch.optim.AdamW(groups, **kwargs)


def to_device(batch: tuple[torch.Tensor, ...], device: torch.device) -> tuple[torch.Tensor, ...]:
    """Host batches to the device; on CUDA through pinned memory, so the copy runs behind the compute."""
    if device.type != "cuda":
        return tuple(t.to(device) for t in batch)
    return tuple(t.pin_memory().to(device, non_blocking=True) for t in batch)


class PendingLosses:
    """Per-step loss and gradient norm, kept on the device until a log step reads them all at once.

    Reading a loss every step (`float(loss)`) makes the host wait for the GPU each step, so the next
    step's kernels cannot be queued while this one runs. Divergence is found at read time and names
    the first bad step; checkpoints are only written after a read, so no diverged weights are saved.
    """

    def __init__(self, world: parallel.World):
        self.world = world
        self.steps: list[int] = []
        self.values: list[torch.Tensor] = []

    def add(self, step: int, loss: torch.Tensor, grad_norm: torch.Tensor) -> None:
        self.steps.append(step)
        self.values.append(torch.stack((loss.float(), grad_norm.float().to(loss.device))))

    def read(self, last_checkpoint: str | None) -> list[tuple[float, float]]:
        """(loss averaged over processes, gradient norm) for every step since the last read; raises
        TrainingDiverged at the first step where either is not finite."""
        values = torch.stack(self.values)  # (steps, 2)
        values[:, 0] = parallel.all_reduce_mean(values[:, 0].contiguous(), self.world)
        rows = values.double().cpu().tolist()
        steps, self.steps, self.values = self.steps, [], []
        for step, (loss, grad) in zip(steps, rows):
            if not (math.isfinite(loss) and math.isfinite(grad)):
                raise TrainingDiverged(step, loss if not math.isfinite(loss) else grad, last_checkpoint)
        return [(loss, grad) for loss, grad in rows]


def resolve_precision(cfg: TrainConfig, device: torch.device) -> str:
    if cfg.precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"  # bf16 on CPU is ~100x slower here
    return cfg.precision


def _comparable(config: dict) -> dict:
    return {k: v for k, v in config.items() if k not in ("provenance", "log_to")}  # where logs go may change on resume


def prepare_run_dir(run_dir: Path, cfg: TrainConfig, resume: bool) -> None:
    config_path = run_dir / "config.yaml"
    if config_path.exists():
        if not resume:
            raise RunDirError(f"run directory {run_dir} already holds a run; pass --resume to continue it or choose a new --out")
        stored = TrainConfig.from_yaml(config_path).to_dict()
        wanted = TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))).to_dict()
        if json.dumps(_comparable(stored), sort_keys=True, default=str) != json.dumps(_comparable(wanted), sort_keys=True, default=str):
            diff = sorted(k for k in set(stored) | set(wanted) if stored.get(k) != wanted.get(k))
            raise RunDirError(f"--resume with a config that differs from {config_path} in {diff}; resume with the stored config or start a new --out")
        return
    if run_dir.exists() and any(run_dir.iterdir()) and not resume:
        raise RunDirError(f"run directory {run_dir} is not empty; choose a new --out")
    run_dir.mkdir(parents=True, exist_ok=True)
    body = cfg.to_dict()
    body["optim"]["betas"] = list(body["optim"]["betas"])
    body["provenance"] = provenance()
    write_text_atomic(config_path, yaml.safe_dump(body, sort_keys=False))


@torch.no_grad()
def validation_loss(wrapped, batches, world: parallel.World, autocast) -> float:
    """Mean token cross-entropy over the fixed validation sample (shared across ranks)."""
    wrapped.eval()
    total = torch.zeros(2, dtype=torch.float64, device=world.device)
    fsdp = parallel.is_fsdp(wrapped)
    for i, (inputs, targets) in enumerate(batches):
        # FSDP needs every rank in every forward; replicated models split the batches.
        if not fsdp and i % world.world_size != world.rank:
            continue
        with autocast():
            loss = wrapped(inputs.to(world.device), targets.to(world.device))
        total[0] += loss.double() * targets.numel()
        total[1] += targets.numel()
    total = parallel.all_reduce_sum(total, world)
    if fsdp:
        total /= world.world_size
    wrapped.train()
    return float(total[0] / total[1])


def train(cfg: TrainConfig, run_dir: str | Path, resume: bool = False, progress: bool = True) -> dict:
    """Train one run to its token budget. Returns a summary of the final state."""
    world = parallel.init_world(cfg.device)
    try:
        with contextlib.ExitStack() as held:  # the run directory's lock, once it is claimed
            return _train(cfg, Path(run_dir), resume, progress, world, held)
    finally:
        parallel.shutdown(world)


@dataclass
class _Run:
    """Everything a run holds fixed from its first step to its last."""

    cfg: TrainConfig
    world: parallel.World
    run_dir: Path
    stream: TokenStream
    tokenizer: Any
    model: Transformer
    wrapped: torch.nn.Module
    optimizer: torch.optim.AdamW
    precision: str
    peak: float | None
    counts: dict[str, int]
    per_rank: int  # examples per process per step
    accum: int  # micro-batches per process per step
    plan: set[int]  # the steps that end in a checkpoint
    val_batches: list  # the fixed validation sample, (inputs, targets) on the host

    def autocast(self):
        return torch.autocast(self.world.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")


@dataclass
class _Progress:
    """What moves as the run goes: the next step, the loss EMA, the last checkpoint, the throughput window."""

    step: int = 0
    ema: float = 0.0
    ema_steps: int = 0
    smoothed: float = float("nan")  # the bias-corrected EMA at the last log step
    last_ckpt: str | None = None
    window_tokens: int = 0
    window_start: float = 0.0


def _batch_split(cfg: TrainConfig, world: parallel.World, stream: TokenStream) -> tuple[int, int]:
    """(examples per process, micro-batches per process) of one step; refuses shapes that do not split."""
    if stream.vocab_size > cfg.model.vocab_size:
        raise ConfigError(f"the data's vocabulary ({stream.vocab_size} tokens) is larger than model.vocab_size="
                          f"{cfg.model.vocab_size}; set model.vocab_size >= {stream.vocab_size}")
    per_rank = cfg.global_batch_size // world.world_size
    if cfg.global_batch_size % world.world_size or per_rank % cfg.micro_batch_size:
        raise ConfigError(f"global_batch_size={cfg.global_batch_size} must split into {world.world_size} processes "
                          f"x whole micro-batches of {cfg.micro_batch_size}")
    return per_rank, per_rank // cfg.micro_batch_size


def _build(cfg: TrainConfig, run_dir: Path, resume: bool, world: parallel.World, held: contextlib.ExitStack) -> _Run:
    """Check the config against the data, claim the run directory (and its lock: one writer), build model and
    optimizer (seeded)."""
    from transformers import AutoTokenizer

    from contracts.locks import OutputLock

    stream = TokenStream(cfg.data_dir, cfg.seq_len, cfg.seed)
    per_rank, accum = _batch_split(cfg, world, stream)
    if world.is_main:
        prepare_run_dir(run_dir, cfg, resume)
        held.enter_context(OutputLock(run_dir, log=print))
    if world.world_size > 1:
        torch.distributed.barrier()

    tokenizer = AutoTokenizer.from_pretrained(str(Path(cfg.data_dir) / stream.manifest["tokenizer"]))
    torch.manual_seed(cfg.seed)
    model = Transformer(cfg.model).to(world.device)
    counts = param_counts(cfg.model)
    wrapped = parallel.parallelize(model, world, "fsdp" if cfg.parallel == "fsdp" else "ddp", cfg.compile)
    optimizer = build_optimizer(model, cfg, world.device)
    precision = resolve_precision(cfg, world.device)
    plan = set(checkpoint_steps(cfg.total_steps, cfg.tokens_per_step, cfg.checkpoints.log_spaced,
                                cfg.checkpoints.every_tokens, cfg.checkpoints.final))
    val_batches = validation_batches(cfg.data_dir, cfg.seq_len, cfg.val_tokens, cfg.val_batch_size)
    return _Run(cfg, world, run_dir, stream, tokenizer, model, wrapped, optimizer, precision,
                device_peak_flops(world.device, precision), counts, per_rank, accum, plan, val_batches)


def numpy_rng_as_tensors() -> dict:
    """numpy's global RNG state as tensors and plain numbers: what torch.load(weights_only=True) accepts."""
    state = np.random.get_state()
    assert isinstance(state, tuple)  # the legacy form: (name, keys, pos, has_gauss, cached_gaussian)
    name, keys, pos, has_gauss, cached = state
    return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}


def numpy_rng_from_tensors(state: dict) -> tuple:
    return (state["name"], state["keys"].numpy().astype(np.uint32), state["pos"], state["has_gauss"],
            state["cached_gaussian"])


def load_trainer_state(path: Path) -> dict:
    """The optimizer state and counters, unpickled safely (tensors and plain data only): a trainer_state.pt is
    data, and a forged one must not run code."""
    import pickle

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise RunDirError(f"{path} holds objects that cannot be loaded safely ({str(err).splitlines()[0][:120]}); "
                          "written by another program or by a version of this trainer before 2026-12-08 (numpy RNG state as an "
                          "array): resume from a newer checkpoint or start a new --out") from None


def _restore(run: _Run, resume: bool) -> _Progress:
    """The progress to start from: fresh, or the latest resumable checkpoint's weights, optimizer, EMA and RNG."""
    progress = _Progress()
    latest = latest_resumable(run.run_dir) if resume else None
    if latest is not None:
        state = load_trainer_state(latest / TRAINER_STATE)
        _, model_state = load_hf_checkpoint(latest)
        parallel.load_full_state_dicts(run.model, run.wrapped, run.optimizer, model_state, state["optimizer"])
        progress.step, progress.ema, progress.ema_steps = state["step"], state["loss_ema"], state["loss_ema_steps"]
        progress.last_ckpt = latest.name
        torch.set_rng_state(state["rng"]["torch"])
        np.random.set_state(numpy_rng_from_tensors(state["rng"]["numpy"]))
        random.setstate(state["rng"]["python"])
    if run.world.is_main and resume:
        repair_run_dir(run.run_dir, progress.step, run.cfg.checkpoints.keep_trainer_state)
    return progress


def _train_step(run: _Run, step: int, pending: PendingLosses) -> float:
    """One optimizer step (micro-batches, clipping, AdamW) with no host synchronisation; returns its learning rate."""
    cfg, world = run.cfg, run.world
    lr = cfg.optim.lr * lr_multiplier(step, cfg.total_steps, cfg.schedule)
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    step_loss = torch.zeros((), device=world.device)
    first_example = step * cfg.global_batch_size + world.rank * run.per_rank
    for micro in range(run.accum):
        batch = run.stream.batch(first_example + micro * cfg.micro_batch_size, cfg.micro_batch_size)
        inputs, targets = to_device(batch, world.device)
        with parallel.no_grad_sync(run.wrapped, micro == run.accum - 1), run.autocast():
            loss = run.wrapped(inputs, targets) / run.accum
        loss.backward()
        step_loss += loss.detach()
    grad_norm = torch.nn.utils.clip_grad_norm_(run.model.parameters(), cfg.optim.grad_clip)
    if hasattr(grad_norm, "full_tensor"):  # FSDP2 returns a DTensor
        grad_norm = grad_norm.full_tensor()
    pending.add(step + 1, step_loss, grad_norm)
    run.optimizer.step()
    run.optimizer.zero_grad(set_to_none=True)
    return lr


def _log_window(run: _Run, progress: _Progress, pending: PendingLosses, lr: float, bar: tqdm, metrics_log) -> None:
    """The one host synchronisation: this window's losses and gradient norms, read back together and logged."""
    cfg = run.cfg
    values = pending.read(progress.last_ckpt)  # raises TrainingDiverged at the first bad step
    for loss_value, _ in values:
        progress.ema_steps += 1
        progress.ema = cfg.loss_ema * progress.ema + (1 - cfg.loss_ema) * loss_value
    loss_value, grad_value = values[-1]  # the window's last step is the one logged
    progress.smoothed = progress.ema / (1 - cfg.loss_ema ** progress.ema_steps)
    elapsed = max(time.perf_counter() - progress.window_start, 1e-9)
    tps = progress.window_tokens / elapsed
    util = mfu(tps, cfg.model, cfg.seq_len, run.peak, run.world.world_size)
    bar.set_postfix(loss=f"{loss_value:.3f}", tok_s=f"{tps:,.0f}", lr=f"{lr:.2e}")
    if metrics_log is not None:
        metrics_log.log({
            "step": progress.step, "tokens": progress.step * cfg.tokens_per_step, "loss": loss_value,
            "loss_smoothed": progress.smoothed, "lr": lr, "grad_norm": grad_value, "tokens_per_s": tps, "mfu": util})
    progress.window_tokens, progress.window_start = 0, time.perf_counter()


def _checkpoint(run: _Run, progress: _Progress, lr: float, bar: tqdm, metrics_log=None) -> None:
    """Validate, then save weights and trainer state (main process); never saves weights whose loss is not finite."""
    cfg, world, done = run.cfg, run.world, progress.step
    tokens_seen = done * cfg.tokens_per_step
    val = validation_loss(run.wrapped, run.val_batches, world, run.autocast)
    if not math.isfinite(val):  # the update itself diverged: never save those weights
        raise TrainingDiverged(done, val, progress.last_ckpt)
    if metrics_log is not None:
        metrics_log.log_validation(done, val)
    model_state, optim_state = parallel.full_state_dicts(run.model, run.wrapped, run.optimizer)
    if world.is_main:
        record = {
            "run": cfg.name, "step": done, "tokens": tokens_seen, **run.counts,
            "flops": training_flops(run.counts["params"], tokens_seen), "val_loss": val, "train_loss": progress.smoothed,
            "lr": lr, "path": f"checkpoints/step_{done:08d}",
        }
        trainer_state = {
            "step": done, "examples_seen": done * cfg.global_batch_size, "optimizer": optim_state,
            "loss_ema": progress.ema, "loss_ema_steps": progress.ema_steps, "schedule": cfg.to_dict()["schedule"],
            "rng": {"torch": torch.get_rng_state(), "numpy": numpy_rng_as_tensors(), "python": random.getstate()},
        }
        save_checkpoint(run.run_dir, done, model_state, trainer_state, cfg.model, run.tokenizer, record,
                        cfg.checkpoints.keep_trainer_state, cfg.checkpoints.max_shard_size)
        bar.write(f"[{cfg.name}] step {done}/{cfg.total_steps} tokens {tokens_seen:,} val_loss {val:.4f} -> {record['path']}")
    progress.last_ckpt = f"step_{done:08d}"
    if world.world_size > 1:
        torch.distributed.barrier()
    progress.window_start = time.perf_counter()  # keep eval and save time out of tokens/s


def _train(cfg: TrainConfig, run_dir: Path, resume: bool, show_progress: bool, world: parallel.World,
           held: contextlib.ExitStack) -> dict:
    run = _build(cfg, run_dir, resume, world, held)
    progress = _restore(run, resume)
    metrics_log = make_logger(run_dir, cfg.log_to, cfg.name, cfg.to_dict()) if world.is_main else None
    total = cfg.total_steps
    bar = tqdm(total=total, initial=progress.step, disable=not (show_progress and world.is_main), unit="step",
               desc=cfg.name, dynamic_ncols=True)
    progress.window_start = time.perf_counter()
    run.wrapped.train()
    pending = PendingLosses(world)
    try:
        for step in range(progress.step, total):
            lr = _train_step(run, step, pending)
            progress.step = step + 1
            progress.window_tokens += cfg.tokens_per_step
            bar.update(1)
            if progress.step % cfg.log_interval == 0 or progress.step == total or progress.step in run.plan:
                _log_window(run, progress, pending, lr, bar, metrics_log)
            if progress.step in run.plan:
                _checkpoint(run, progress, lr, bar, metrics_log)
    finally:
        bar.close()
    if metrics_log is not None:
        metrics_log.close()
    return {"run_dir": str(run_dir), "steps": total, "tokens": total * cfg.tokens_per_step, **run.counts,
            "last_checkpoint": progress.last_ckpt}
