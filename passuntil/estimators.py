"""Exact estimators for PassUntil (Hu et al. 2024).

An instance is sampled until it has passed r times (inverse binomial sampling) or reaches the cap n.
Two outcomes:
- reached r passes at sample K <= n;
- censored: x < r passes in n samples.

Per instance:
- pu_mle = passes / samples (r/K, or x/n when censored; the paper's PU = r/K).
- pu_unbiased: the Girshick-Mosteller-Savage estimator for this closed stopping rule, the share of
  sample paths to the stopping point that start with a pass: (r-1)/(K-1) when r passes were reached
  (Haldane's estimator), x/n when censored. Unbiased for every p; for r = 1 it degenerates to
  1[K = 1], so it is reported only for r >= 2 (None otherwise).
- ci_low, ci_high: an exact (Clopper-Pearson type) interval. Reaching r at sample K is the event
  {K <= k} = {Binomial(k, p) >= r}, which gives lower = Beta^-1(a/2; r, K-r+1) and
  upper = Beta^-1(1-a/2; r, K-r) (upper = 1 when K = r). A censored instance is a binomial
  observation: lower = 0 for x = 0 (else Beta^-1(a/2; x, n-x+1)) and upper = Beta^-1(1-a/2; x+1, n-x);
  for x = 0 this upper bound (1 - (a/2)^(1/n)) is what the instance tells us, instead of a zero.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import beta


@dataclass(frozen=True)
class InstanceEstimate:
    samples: int
    passes: int
    censored: bool
    pu_mle: float
    pu_unbiased: float | None
    ci_low: float
    ci_high: float


def estimate_instance(samples: int, passes: int, r: int, max_samples: int, alpha: float = 0.05) -> InstanceEstimate:
    if samples <= 0 or passes < 0 or passes > samples:
        raise ValueError(f"impossible instance: {passes} passes in {samples} samples")
    censored = passes < r
    if censored and samples != max_samples:
        raise ValueError(f"an instance with {passes} < r = {r} passes must have reached the cap {max_samples}, not {samples}")
    if censored:
        x, n = passes, samples
        low = 0.0 if x == 0 else float(beta.ppf(alpha / 2, x, n - x + 1))
        high = 1.0 if x == n else float(beta.ppf(1 - alpha / 2, x + 1, n - x))
        unbiased = x / n if r >= 2 else None
    else:
        k = samples
        low = float(beta.ppf(alpha / 2, r, k - r + 1))
        high = 1.0 if k == r else float(beta.ppf(1 - alpha / 2, r, k - r))
        unbiased = (r - 1) / (k - 1) if r >= 2 else None
    return InstanceEstimate(samples, passes, censored, passes / samples, unbiased, low, high)


@dataclass(frozen=True)
class TaskEstimate:
    instances: int
    censored: int
    mean_pu: float
    ci_low: float
    ci_high: float
    pooled_passes: int
    pooled_samples: int
    estimator: str  # which per-instance estimate was averaged

    @property
    def pooled_pu(self) -> float:
        return self.pooled_passes / self.pooled_samples if self.pooled_samples else float("nan")


def estimate_task(records: list[dict], n_boot: int = 2000, alpha: float = 0.05, seed: int = 0) -> TaskEstimate:
    """Mean instance PU with a percentile bootstrap interval over instances; censored ones included."""
    if not records:
        raise ValueError("no instances to summarise")
    use_unbiased = all(rec.get("pu_unbiased") is not None for rec in records)
    values = np.array([rec["pu_unbiased"] if use_unbiased else rec["pu_mle"] for rec in records], dtype=float)
    rng = np.random.default_rng(seed)
    boots = values[rng.integers(0, len(values), size=(n_boot, len(values)))].mean(axis=1)
    low, high = np.quantile(boots, [alpha / 2, 1 - alpha / 2])
    return TaskEstimate(
        instances=len(records), censored=sum(bool(rec["censored"]) for rec in records), mean_pu=float(values.mean()),
        ci_low=float(low), ci_high=float(high), pooled_passes=int(sum(rec["passes"] for rec in records)),
        pooled_samples=int(sum(rec["samples"] for rec in records)), estimator="unbiased" if use_unbiased else "mle")
