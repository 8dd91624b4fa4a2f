"""Synthetic data with known truth for the analysis tests."""
from __future__ import annotations

import math

import numpy as np

from passuntil.estimators import estimate_instance


def passuntil_records(pu_by_instance, sizes, r: int = 2, cap: int = 200_000, seed: int = 0, task: str = "sim") -> list[dict]:
    """Records as `passuntil run` writes them, from inverse sampling with the true per-instance PU(N)."""
    rng = np.random.default_rng(seed)
    out = []
    for i, pu_fn in enumerate(pu_by_instance):
        for n in sizes:
            p = float(pu_fn(n))
            # numpy cannot draw for astronomically small p; such an instance never passes within the cap anyway
            k = r + int(rng.negative_binomial(r, p)) if p > 1e-12 else cap + 1
            if k > cap:
                passes = int(rng.binomial(cap, p)) if p > 1e-12 else 0
                passes = min(passes, r - 1)
                samples = cap
            else:
                passes, samples = r, k
            est = estimate_instance(samples, passes, r, cap)
            out.append({"task": task, "instance_id": f"i{i}", "model": f"m{n:.3g}", "params": n, "samples": samples,
                        "passes": passes, "censored": est.censored, "r": r, "max_samples": cap, "pu_mle": est.pu_mle,
                        "pu_unbiased": est.pu_unbiased, "ci_low": est.ci_low, "ci_high": est.ci_high})
    return out


def task_law(c: float, alpha: float):
    return lambda n: math.exp(-c * n ** -alpha)
