"""A simulated model: each sample of an instance passes with a known probability p.

Used to check the estimators against known truth and to measure sample efficiency
(benchmarks/passuntil_throughput.py). Draws come from the request's seed, like the real backends.
"""
from __future__ import annotations

import numpy as np

from passuntil.backends import SampleRequest

PASS, FAIL = "PASS", "FAIL"


class SimulatedBackend:
    name = "simulated"

    def __init__(self, pass_probability: dict[str, float]):
        self.p = pass_probability
        self.calls: list[list[SampleRequest]] = []  # kept for scheduler tests

    def sample(self, requests: list[SampleRequest]) -> list[list[str]]:
        self.calls.append(list(requests))
        out = []
        for req in requests:
            draws = np.random.default_rng(req.seed).random(req.n) < self.p[req.key]
            out.append([PASS if hit else FAIL for hit in draws])
        return out
