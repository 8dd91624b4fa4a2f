"""Everything about running on more than one process, kept out of the model (as torchtitan does).

`torchrun --nproc_per_node N -m trainer train ...` sets RANK/WORLD_SIZE/LOCAL_RANK; one process
is a world of size 1 and takes the same code path. DDP (gloo on CPU, NCCL on GPU) replicates the
model; FSDP2 (`fully_shard`, one unit per block) shards it for rungs that do not fit one GPU.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass
class World:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_world(device_pref: str = "auto") -> World:
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device_pref == "cuda" or (device_pref == "auto" and torch.cuda.is_available())
    if use_cuda:
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return World(rank, world_size, local_rank, device)


def shutdown(world: World) -> None:
    if world.world_size > 1 and dist.is_initialized():
        dist.destroy_process_group()


def parallelize(model: nn.Module, world: World, mode: str, compile_model: bool) -> nn.Module:
    """Returns the module to call for training. `model` itself stays the unwrapped module, so parameter
    names (and checkpoints) never see the compile or parallel wrappers."""
    if world.world_size > 1 and mode == "fsdp":
        from torch.distributed.fsdp import fully_shard

        if compile_model:  # FSDP2 shards per block: compile per block, inside the shards
            for block in model.layers:
                block.compile()
        for block in model.layers:
            fully_shard(block)
        return fully_shard(model)
    wrapped = model
    if world.world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        device_ids = [world.local_rank] if world.device.type == "cuda" else None
        wrapped = DistributedDataParallel(model, device_ids=device_ids)
    # The whole model in one graph (blocks, final norm and the fused output head + loss): fewer graph
    # boundaries than per-block compile, and the head's softmax passes fuse (benchmarks/train_throughput.py).
    return torch.compile(wrapped) if compile_model else wrapped


def is_fsdp(wrapped: nn.Module) -> bool:
    return type(wrapped).__name__.startswith("FSDP")


def no_grad_sync(wrapped: nn.Module, last_micro_step: bool):
    """Skip the gradient all-reduce on all but the last micro-batch of an accumulation."""
    if last_micro_step:
        return contextlib.nullcontext()
    if hasattr(wrapped, "no_sync"):
        return wrapped.no_sync()
    if is_fsdp(wrapped):
        wrapped.set_requires_gradient_sync(False)
        return _restore_fsdp_sync(wrapped)
    return contextlib.nullcontext()


@contextlib.contextmanager
def _restore_fsdp_sync(wrapped):
    try:
        yield
    finally:
        wrapped.set_requires_gradient_sync(True)


def all_reduce_mean(value: torch.Tensor, world: World) -> torch.Tensor:
    if world.world_size > 1:
        value = value.clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
        value /= world.world_size
    return value


def all_reduce_sum(value: torch.Tensor, world: World) -> torch.Tensor:
    if world.world_size > 1:
        value = value.clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value


def full_state_dicts(model: nn.Module, wrapped: nn.Module, optimizer) -> tuple[dict, dict]:
    """Unsharded model and optimizer state on CPU (identical on every rank)."""
    if is_fsdp(wrapped):
        from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict,
                                                             get_optimizer_state_dict)

        opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
        return get_model_state_dict(wrapped, options=opts), get_optimizer_state_dict(wrapped, optimizer, options=opts)
    return ({k: v.detach().cpu() for k, v in model.state_dict().items()}, optimizer.state_dict())


def load_full_state_dicts(model: nn.Module, wrapped: nn.Module, optimizer, model_state: dict, optim_state: dict) -> None:
    if is_fsdp(wrapped):
        from torch.distributed.checkpoint.state_dict import (StateDictOptions, set_model_state_dict,
                                                             set_optimizer_state_dict)

        opts = StateDictOptions(full_state_dict=True)
        set_model_state_dict(wrapped, model_state, options=opts)
        set_optimizer_state_dict(wrapped, optimizer, optim_state, options=opts)
        return
    model.load_state_dict(model_state)
    optimizer.load_state_dict(optim_state)
