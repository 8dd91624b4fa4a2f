"""The six claims a default study must show (issue #22), each judged from the study's own files and stated in
the report's first paragraph; `claims.json` holds them for benchmarks/study_seeds.py.

1. emergent: a task metric classified emergent by the loss-threshold test (Du et al.).
2. smooth: a task metric classified smooth.
3. passuntil_below_greedy: a PassUntil task whose mean pass rate rises monotonically over the fitted rungs
   while greedy exact match is at chance (0, or within 1.645 of its standard errors) on two or more of them:
   PassUntil resolves what greedy decoding cannot see (Hu et al.).
4. task_law_inside: the task law's forecast for the largest rung inside its 90% interval, for the tasks of
   claim 3 (every PassUntil task when none qualifies).
5. loss_law_inside: the loss law's prediction inside its 90% interval.
6. em_curve: the loss-curve prediction of greedy exact match (the emergent metrics; else the tasks of claim 3)
   inside its 90% interval, or flagged "not predictable from higher-loss models": an emergent metric whose
   rise is seen at fewer than 3 fitted checkpoints, or over less loss than the prediction extrapolates below
   the fitted checkpoints. That is Du et al.'s point: before the loss passes the threshold, models show
   nothing to extrapolate from.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field

import numpy as np

from analysis.task_law import record_pu
from study.report_compare import Comparison
from study.report_format import fmt, interval
from study.report_verdict import Emergent

LEVEL = 0.9
CHANCE_Z = 1.645
MIN_RISE_POINTS = 3


@dataclass
class Claim:
    name: str
    holds: bool
    text: str
    detail: dict = field(default_factory=dict)


def _passuntil_tasks(records: list[dict], heldout_params: float, eval_rows: list[dict]) -> dict[str, dict]:
    """Per PassUntil task: the fitted rungs' mean PU by size and the greedy EM at each rung's final checkpoint."""
    final_step: dict[str, int] = {}
    for row in eval_rows:
        final_step[row["run"]] = max(final_step.get(row["run"], -1), int(float(row["step"])))
    em = {(r["run"], r["task"]): r for r in eval_rows
          if r["metric"] == "exact_match" and int(float(r["step"])) == final_step.get(r["run"])}
    out: dict[str, dict] = {}
    by_task: dict[str, dict[float, list]] = defaultdict(lambda: defaultdict(list))
    model_of: dict[tuple[str, float], str] = {}
    for rec in records:
        size = float(rec["params"])
        if size == heldout_params:
            continue
        by_task[rec["task"]][size].append(record_pu(rec))
        model_of[(rec["task"], size)] = rec["model"]
    for task, sizes in by_task.items():
        rungs: list[dict] = []
        for size in sorted(sizes):
            found = em.get((model_of[(task, size)], task))
            value = float(found["value"]) if found else None
            stderr = float(found["stderr"]) if found and found.get("stderr") not in (None, "") else 0.0
            at_chance = value is not None and (value == 0 or value <= CHANCE_Z * stderr)
            rungs.append({"run": model_of[(task, size)], "params": size, "pu": float(np.mean(sizes[size])),
                          "greedy_em": value, "em_at_chance": at_chance})
        pus = [float(r["pu"]) for r in rungs]
        monotone = len(pus) >= 2 and all(b > a for a, b in zip(pus, pus[1:]))
        out[task] = {"rungs": rungs, "monotone": monotone, "em_at_chance": sum(bool(r["em_at_chance"]) for r in rungs)}
    return out


def _eta(fit: dict) -> dict:
    """The emergence test's threshold {estimate, ci_low, ci_high} (fits.json keeps the test under "emergence")."""
    return ((fit.get("emergence") or {}).get("params") or {}).get("eta") or {}


def _rise_extent(fit: dict, predicted_loss: float) -> tuple[int, float, float]:
    """(fitted checkpoints below the threshold, the loss span they cover, how far the prediction's loss lies
    below the lowest fitted loss)."""
    test = fit.get("emergence") or {}
    eta = float(_eta(fit).get("estimate", math.nan))
    loss_min = float((test.get("data") or {}).get("loss_min", eta))
    return int(test.get("points_below_threshold", 0)), max(eta - loss_min, 0.0), max(loss_min - predicted_loss, 0.0)


def judge(fits: dict, prediction: dict, comparison: Comparison, emergent_found: list[Emergent], eval_rows: list[dict],
          records: list[dict], heldout_params: float) -> list[Claim]:
    """`emergent_found`: the verdict's emergent metrics (study.report_verdict.emergent_tasks), eta with its interval."""
    curves = fits.get("loss_curves") or {}
    emergent = sorted(e.key for e in emergent_found)
    smooth = sorted(k for k, f in curves.items() if f.get("classification") == "smooth")
    claims = [
        Claim("emergent", bool(emergent), (
            "emergent by the loss-threshold test: " + "; ".join(
                f"`{e.key}` (eta {fmt(e.eta)}, 95% {interval(e.low, e.high)})"
                for e in sorted(emergent_found, key=lambda e: e.key))) if emergent
            else "no task metric is classified emergent", {"metrics": emergent}),
        Claim("smooth", bool(smooth), f"smooth: {len(smooth)} metrics" + (f", e.g. `{smooth[0]}`" if smooth else ""),
              {"metrics": smooth}),
    ]
    tasks = _passuntil_tasks(records, heldout_params, eval_rows)
    resolved = sorted(t for t, v in tasks.items() if v["monotone"] and v["em_at_chance"] >= 2)

    def rates(task: str) -> str:
        return ", ".join(f"{fmt(r['pu'])}" + (" (greedy EM at chance)" if r["em_at_chance"] else "")
                         for r in tasks[task]["rungs"])
    claims.append(Claim("passuntil_below_greedy", bool(resolved), (
        "PassUntil resolves what greedy decoding cannot: " + "; ".join(
            f"`{t}` mean pass rate by fitted rung {rates(t)}" for t in resolved)) if resolved else (
        "no PassUntil task rises monotonically over the fitted rungs with greedy EM at chance on two of them ("
        + "; ".join(f"`{t}`: {rates(t)}" for t in sorted(tasks)) + ")"), {"tasks": tasks}))

    by_name = {q.name: q for q in comparison.quantities}
    law_tasks = resolved or sorted(tasks)
    law_quantities = [by_name[f"{t} PassUntil"] for t in law_tasks if f"{t} PassUntil" in by_name]
    inside = [q for q in law_quantities if q.inside(LEVEL)]
    claims.append(Claim("task_law_inside", bool(law_quantities) and len(inside) == len(law_quantities),
                        "task law at the largest rung: " + "; ".join(_inside_text(q) for q in law_quantities)
                        if law_quantities else "no task-law forecast for the largest rung",
                        {"inside": len(inside), "of": len(law_quantities)}))
    loss = by_name.get("loss")
    claims.append(Claim("loss_law_inside", bool(loss and loss.inside(LEVEL)),
                        "loss law: " + (_inside_text(loss) if loss else "no prediction")))

    em_keys = [k for k in emergent if k.endswith("|exact_match")] or [f"{t}|exact_match" for t in resolved]
    predicted_loss = float((prediction.get("loss") or {}).get("estimate", math.nan))
    parts, holds = [], bool(em_keys)
    for key in em_keys:
        q = by_name.get(key)
        if q is None or q.inside(LEVEL) is None:
            parts.append(f"`{key}` not predicted or not measured")
            holds = False
            continue
        if q.inside(LEVEL):
            parts.append(_inside_text(q))
            continue
        fit = curves.get(key, {})
        if fit.get("classification") == "emergent":
            points, span, beyond = _rise_extent(fit, predicted_loss)
            if points < MIN_RISE_POINTS or span < beyond:
                parts.append(f"{_inside_text(q)}, flagged not predictable from higher-loss models (the rise is seen at "
                             f"{points} fitted checkpoints over {fmt(span)} nats of loss; the prediction extrapolates "
                             f"{fmt(beyond)} nats below them)")
                continue
        parts.append(_inside_text(q))
        holds = False
    claims.append(Claim("em_curve", holds, "greedy EM from the loss curve: " + ("; ".join(parts) or "no metric")))
    return claims


def _inside_text(q) -> str:
    low, high = q.intervals.get(LEVEL, (math.nan, math.nan))
    where = "inside" if q.inside(LEVEL) else "outside"
    return f"`{q.name}` predicted {fmt(q.estimate)} ({LEVEL:.0%} {interval(low, high)}), measured {fmt(q.actual)} ({where})"


def claims_sentence(claims: list[Claim]) -> str:
    held = sum(c.holds for c in claims)
    return (f"**Claims** ({held} of {len(claims)} hold): " + "; ".join(
        f"{i}. {'holds' if c.holds else 'does not hold'}: {c.text}" for i, c in enumerate(claims, 1)) + ".")


def claims_json(claims: list[Claim], comparison: Comparison) -> dict:
    """The claims, and the inside counts per level the verdict states (for benchmarks/study_seeds.py)."""
    return {"claims": [asdict(c) for c in claims],
            "inside": {f"{level:g}": list(comparison.count_inside(level)) for level in comparison.levels}}
