"""Synthetic data with known truth for the analysis tests."""
from __future__ import annotations

import math

import numpy as np

from passuntil.estimators import estimate_instance


def passuntil_draw(rng, p: float, r: int, cap: int) -> tuple[int, int]:
    """(samples, passes) of one PassUntil instance: sample until r passes or the cap, as the scheduler does.

    The sequential process itself: the waiting times to each pass are independent geometric draws; the
    instance stops at the r-th pass or at the cap, whichever comes first. (Censored counts are therefore a
    binomial truncated below r, not min(Binomial, r - 1).)"""
    if p <= 0.0:
        return cap, 0
    # Gaps beyond the cap are cut to cap + 1 (same outcome) so the sum cannot overflow for tiny p.
    arrivals = np.cumsum(np.minimum(rng.geometric(p, size=r), cap + 1))
    if arrivals[-1] <= cap:
        return int(arrivals[-1]), r
    return cap, int(np.sum(arrivals <= cap))


def passuntil_records(pu_by_instance, sizes, r: int = 2, cap: int = 200_000, seed: int = 0, task: str = "sim",
                      intervals: bool = True) -> list[dict]:
    """Records as `passuntil run` writes them, from inverse sampling with the true per-instance PU(N)
    (intervals=False: NaN exact-interval bounds, for simulations that do not read them)."""
    rng = np.random.default_rng(seed)
    out = []
    for i, pu_fn in enumerate(pu_by_instance):
        for n in sizes:
            samples, passes = passuntil_draw(rng, float(pu_fn(n)), r, cap)
            est = estimate_instance(samples, passes, r, cap, interval=intervals)
            out.append({"task": task, "instance_id": f"i{i}", "model": f"m{n:.3g}", "params": n, "samples": samples,
                        "passes": passes, "censored": est.censored, "r": r, "max_samples": cap, "pu_mle": est.pu_mle,
                        "pu_unbiased": est.pu_unbiased, "ci_low": est.ci_low, "ci_high": est.ci_high})
    return out


def task_law(c: float, alpha: float):
    return lambda n: math.exp(-c * n ** -alpha)


# --- The task-law simulation of issue 15: 40 instances at 5 sizes from 3e7 to 3e9, predicting 3e10. ---
SIM_SIZES = [3e7, 1e8, 3e8, 1e9, 3e9]
SIM_TARGET = 3e10
SIM_CASES = ("homogeneous", "heterogeneous", "heterogeneous+censored")


def law_instance(f0: float, alpha: float, pivot: float = 3e8):
    """PU(N) = exp(-exp(F)), F = f0 - alpha log(N / pivot): the task law with c = exp(f0) pivot^alpha."""
    return lambda n: math.exp(-math.exp(f0 - alpha * math.log(n / pivot)))


def sim_task(case: str, rng, n_instances: int = 40, r: int = 2):
    """(instances, cap): PU ~ 1e-5..1e-2 at the smallest size and ~0.5 at the target for a typical instance.

    homogeneous: every instance follows one law; heterogeneous: log-log intercepts spread by 0.8 and
    exponents by 0.08 (instances of different difficulty); +censored: the same with a cap of 3000 samples,
    so hard instances at small sizes stop with fewer than r passes."""
    if case == "homogeneous":
        return [law_instance(1.5, 0.4)] * n_instances, 10_000_000
    f0 = rng.normal(1.5, 0.8, n_instances)
    alpha = np.clip(rng.normal(0.4, 0.08, n_instances), 0.15, None)
    cap = 3000 if case == "heterogeneous+censored" else 10_000_000
    return [law_instance(a, b) for a, b in zip(f0, alpha)], cap


def simulate_methods(methods: dict, n_sims: int, seed: int = 0, cases=SIM_CASES, r: int = 2) -> dict:
    """{case: {method: {"bias": mean relative error, "coverage": share of intervals holding the truth,
    "coverage_measured": share holding what PassUntil measures at the target, ...}}}.

    Truth: the instances' mean PU at SIM_TARGET; measured: the mean unbiased PassUntil estimate of a fresh
    run at SIM_TARGET (same r and cap), what a backtest compares with. A confidence interval is judged on
    the first, a prediction interval on the second. Each method maps (records, target) -> (estimate, low, high)."""
    rng = np.random.default_rng(seed)
    table = {case: {name: {"rel_err": [], "covered": [], "covered_measured": [], "width": []} for name in methods}
             for case in cases}
    for case in cases:
        for _ in range(n_sims):
            insts, cap = sim_task(case, rng, r=r)
            truth = float(np.mean([f(SIM_TARGET) for f in insts]))
            measured = float(np.mean([estimate_instance(*passuntil_draw(rng, f(SIM_TARGET), r, cap), r, cap, interval=False).pu_unbiased
                                      for f in insts]))
            recs = passuntil_records(insts, SIM_SIZES, r=r, cap=cap, seed=int(rng.integers(1 << 31)), intervals=False)
            for name, method in methods.items():
                est, low, high = method(recs, SIM_TARGET)
                row = table[case][name]
                row["rel_err"].append(est / truth - 1)
                row["covered"].append(low <= truth <= high)
                row["covered_measured"].append(low <= measured <= high)
                row["width"].append((high - low) / truth)
    return {case: {name: {"bias": float(np.mean(v["rel_err"])), "coverage": float(np.mean(v["covered"])),
                          "coverage_measured": float(np.mean(v["covered_measured"])),
                          "median_rel_width": float(np.median(v["width"])), "n": len(v["covered"])}
                   for name, v in rows.items()} for case, rows in table.items()}


def format_table(table: dict) -> str:
    cases = list(table)
    names = list(table[cases[0]])
    lines = ["| method | " + " | ".join(cases) + " |", "|---" * (len(cases) + 1) + "|"]
    for name in names:
        cells = [f"bias {table[c][name]['bias']:+.1%}, covers {table[c][name]['coverage']:.0%} "
                 f"(measured {table[c][name]['coverage_measured']:.0%}), "
                 f"width {table[c][name]['median_rel_width']:.2f}" for c in cases]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
