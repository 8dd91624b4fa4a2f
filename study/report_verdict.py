"""The report's first paragraph: which tasks emerge (at what loss and size), what was predicted for the
largest rung and whether it held, counted against the 90% and 95% prediction intervals."""
from __future__ import annotations

from dataclasses import dataclass

from study.report_compare import Comparison, Quantity
from study.report_flags import Flag
from study.report_format import fmt, interval, plural


@dataclass(frozen=True)
class FinalLoss:
    run: str
    params: float
    tokens: float
    loss: float


@dataclass(frozen=True)
class Emergent:
    key: str
    eta: float
    low: float | None
    high: float | None
    first: FinalLoss | None  # the smallest rung whose final loss is below eta


def emergent_tasks(fits: dict, finals: list[FinalLoss]) -> tuple[list[Emergent], list[str]]:
    """(the task metrics classified emergent against loss, the ones tested and found smooth or untested)."""
    emergent, others = [], []
    by_size = sorted(finals, key=lambda f: (f.params, f.tokens))
    for key, fit in (fits.get("loss_curves") or {}).items():
        eta = ((fit.get("emergence") or {}).get("params") or {}).get("eta")
        if fit.get("classification") != "emergent" or not isinstance(eta, dict):
            others.append(f"`{key}` ({fit.get('classification', 'not tested')})")
            continue
        first = next((f for f in by_size if f.loss < eta["estimate"]), None)
        emergent.append(Emergent(key, eta["estimate"], eta.get("ci_low"), eta.get("ci_high"), first))
    return emergent, others


def _emergent_sentence(item: Emergent) -> str:
    where = (f"first reached at the end of training by {item.first.run} (N = {fmt(item.first.params)}, "
             f"D = {fmt(item.first.tokens)})" if item.first else "not reached by any rung's final checkpoint")
    return f"`{item.key}` below loss eta = {fmt(item.eta)} (95% {interval(item.low, item.high)}), {where}"


def _emergence_part(emergent: list[Emergent], others: list[str], fits: dict) -> str:
    tested = len(emergent) + len(others)
    if emergent:
        text = (f"{len(emergent)} of {plural(tested, 'task metric')} tested against pre-training loss emerge "
                "(a threshold model beats a smooth one by more than 6 BIC and the metric sits at chance above the "
                "threshold): " + "; ".join(_emergent_sentence(e) for e in emergent) + ".")
    else:
        text = f"None of the {plural(tested, 'task metric')} tested against pre-training loss emerges."
    by_class: dict[str, list[str]] = {}
    for entry in others:
        name, _, cls = entry.partition(" (")
        by_class.setdefault(cls.rstrip(")"), []).append(name)
    if by_class:
        text += " The " + ("others are" if emergent else "metrics are") + ": " + "; ".join(
            f"{cls} ({len(names)}" + (f": {', '.join(names)})" if cls != "smooth" else ")") for cls, names in by_class.items()) + "."
    shapes = [f"`{t}` {f.get('shape')} ({f.get('meaning', '')})" for t, f in (fits.get("emergence") or {}).items()]
    if shapes:
        text += " PassUntil's curvature of log(-log PU) in log N: " + "; ".join(shapes) + "."
    return text


def _quantity_sentence(q: Quantity, level: float) -> str:
    low, high = q.intervals.get(level, (None, None))
    measured = "not measured" if q.actual is None else (
        f"measured {fmt(q.actual)}" + (f" +- {fmt(q.stderr)}" if q.stderr else "")
        + (" (inside)" if q.inside(level) else " (outside)"))
    return f"`{q.name}` predicted {fmt(q.estimate)} ({level:.0%} {interval(low, high)}), {measured}"


def _chance_part(comparison: Comparison, level: float) -> str:
    with_baseline = [q for q in comparison.quantities if q.kind == "task" and q.baseline is not None]
    if not with_baseline:
        return ""
    predicted = [q.name for q in with_baseline if q.clear_of_chance(*q.intervals.get(level, (float("-inf"), float("inf"))))]
    measured = [q.name for q in with_baseline if q.measured_above_chance()]
    held = sorted(set(predicted) & set(measured))
    names = lambda xs: ", ".join(f"`{x}`" for x in xs) or "none"  # noqa: E731
    return (f" Off chance at the largest rung (of {plural(len(with_baseline), 'metric')} with a random baseline): "
            f"predicted for {names(predicted)} (the {level:.0%} interval clear of the baseline), measured for "
            f"{names(measured)} (beyond the baseline by more than 1.645 eval standard errors); both: {names(held)}.")


def verdict(fits: dict, prediction: dict, comparison: Comparison, emergent: list[Emergent], others: list[str],
            flags: list[Flag], skipped: dict[str, str]) -> list[str]:
    levels = comparison.levels
    lowest = levels[0]
    before = "before it was trained" if prediction.get("written_before_training") else "NOT before it was trained"
    counts = " and ".join(f"{k} of {n} lie inside their {lv:.0%} prediction intervals"
                          for lv in levels for k, n in [comparison.count_inside(lv)])
    loss = comparison.quantities[0]
    # Besides the loss: the emergent metrics and PassUntil (the laws built for emergence), each with its outcome.
    key_rows = [q for q in comparison.quantities if q.name in {e.key for e in emergent} or q.kind == "passuntil"]
    text = (f"**Verdict.** {_emergence_part(emergent, others, fits)} "
            f"The largest rung, {prediction.get('run', '?')} (N = {fmt(prediction.get('params'))}, "
            f"D = {fmt(prediction.get('tokens'))}), was predicted {before} from the smaller rungs: "
            + "; ".join(_quantity_sentence(q, lowest) for q in [loss, *key_rows])
            + f". Of the {plural(len(comparison.measured()), 'predicted quantity', 'predicted quantities')} measured there, {counts} "
            f"(well-calibrated intervals hold about {' and '.join(f'{lv:.0%}' for lv in levels)} of them)."
            + _chance_part(comparison, lowest)
            + f" {plural(len(flags), 'flag')} on fits and {plural(len(skipped), 'skipped law')} are listed under "
            "\"Flags and skipped laws\".")
    return [text, ""]
