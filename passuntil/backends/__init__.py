"""Sampling backends. Each takes a list of SampleRequest and returns, per request, n completions
(`factory.make_backend` builds the one a command names).

A request's samples come from its own seed, so results do not depend on how the scheduler packs
requests into calls (the basis of exact resume).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SampleRequest:
    prompt: str
    n: int
    seed: int
    temperature: float
    top_p: float
    max_new_tokens: int
    stop: tuple[str, ...]
    key: str = ""  # instance id; the simulated backend reads its pass probability from it
