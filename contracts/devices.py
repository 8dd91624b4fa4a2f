"""`--device auto`: the GPU when this process can see one, else the CPU (what a user of a GPU host expects)."""
from __future__ import annotations

DEVICE_HELP = "auto (a GPU when one is visible, else cpu), cpu, cuda or cuda:N."


def resolve_device(name: str) -> str:
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
