"""Warnings a reader needs before trusting a fit, and the laws that were not fitted at all.

Flags follow the "Flags on fits" contract: any fit in fits.json may carry
`"flags": [{"code", "message"}]` (analysis writes `at_bound` and `bootstrap_at_bound`). The report renders
every flag it finds and adds, from the stored estimates, intervals and counts (no refit), the ones a fit
lacks: `ci_includes_zero` (a parameter whose sign carries the finding has a 95% interval containing 0),
`too_few_points` (no more points than free parameters) and, for a loss law written without flags, `at_bound`
(an exponent at its optimiser bound).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

# Parameters whose sign is the finding: exponents and slopes (the task law's alpha, the loss law's alpha and
# beta, a curve's slope s/b/j or steepness k, Gadre et al.'s gamma, the curvature q).
SIGNED = {"alpha", "beta", "s", "b", "j", "k", "gamma", "q"}
BOUND_TOLERANCE = 1e-3  # relative: an estimate this close to a bound sits on it


@dataclass(frozen=True)
class Flag:
    fit: str
    code: str
    message: str


def _fits(fits: dict) -> list[tuple[str, str, dict]]:
    """(label, kind, fit dict) for every fit in fits.json that a flag can concern."""
    out = []
    if isinstance(fits.get("loss_law"), dict):
        out.append(("loss law", "loss_law", fits["loss_law"]))
    for section, label in (("loss_curves", "curve {}"), ("collapse", "collapse test {}"), ("task_laws", "task law {}"),
                           ("task_laws_instance", "task law (instance level) {}"), ("emergence", "curvature {}")):
        for key, fit in (fits.get(section) or {}).items():
            if isinstance(fit, dict):
                out.append((label.format(key), section, fit))
    return out


def _intervals(kind: str, fit: dict) -> dict[str, tuple[float, float, float]]:
    """name -> (estimate, 95% low, 95% high), read from the fit's stored params/draws."""
    if kind == "loss_curves":  # a loss curve stores bootstrap draws; the interval is their quantiles
        from analysis.results import LossCurveResults

        try:
            loaded = LossCurveResults.from_dict(fit)
            return {k: (loaded.params[k], *v) for k, v in loaded.conf_int(0.05).items()}
        except (KeyError, TypeError, ValueError, IndexError):
            return {}
    out = {}
    for name, p in (fit.get("params") or {}).items():
        if isinstance(p, dict) and None not in (p.get("estimate"), p.get("ci_low"), p.get("ci_high")):
            out[name] = (float(p["estimate"]), float(p["ci_low"]), float(p["ci_high"]))
    return out


def _points(kind: str, fit: dict) -> tuple[int | None, int, str]:
    """(points the fit rests on, free parameters, what a point is)."""
    data = fit.get("data") or {}
    if kind == "loss_law":
        return data.get("n_points"), len(fit.get("names") or fit.get("params") or {}), "runs"
    if kind == "loss_curves":
        return data.get("n_checkpoints"), len(fit.get("params") or {}), "checkpoints"
    if kind == "emergence":
        return len(fit.get("F") or {}) or data.get("n_models"), 3, "model sizes"
    sizes = fit.get("mean_pu") or {}
    return (len(sizes) or data.get("n_models")), 2, "model sizes"


def _computed(label: str, kind: str, fit: dict) -> list[Flag]:
    if kind == "collapse":  # a test, not a law: only the flags it carries
        return []
    flags = []
    for name, (estimate, low, high) in _intervals(kind, fit).items():
        if name in SIGNED and low <= 0 <= high:
            flags.append(Flag(label, "ci_includes_zero", f"{name} = {estimate:.4g} with 95% interval [{low:.4g}, {high:.4g}] "
                                                         "includes 0: its sign is not established"))
    n, k, what = _points(kind, fit)
    if n is not None and n <= k:
        flags.append(Flag(label, "too_few_points", f"{n} {what} for {k} free parameters: the fit interpolates, "
                                                   "its intervals do not measure its error"))
    if kind == "loss_law" and "flags" not in fit:
        flags += _exponents_at_bound(label, fit)
    return flags


def _exponents_at_bound(label: str, fit: dict) -> list[Flag]:
    from analysis.loss_law import EXPONENT_BOUNDS

    out = []
    for name, p in (fit.get("params") or {}).items():
        value = p.get("estimate") if isinstance(p, dict) else None
        if name in ("alpha", "beta") and value is not None:
            for bound in EXPONENT_BOUNDS:
                if math.isclose(value, bound, rel_tol=BOUND_TOLERANCE):
                    out.append(Flag(label, "at_bound", f"{name} = {value:.4g} sits at its optimiser bound {bound:g}: "
                                                       "the data do not pin it"))
    return out


def collect_flags(fits: dict) -> list[Flag]:
    """Every flag the fits carry, then the computed ones a fit does not already carry (by code)."""
    flags: list[Flag] = []
    for label, kind, fit in _fits(fits):
        given = [Flag(label, str(f.get("code", "?")), str(f.get("message", ""))) for f in fit.get("flags") or []
                 if isinstance(f, dict)]
        codes = {f.code for f in given}
        flags += given + [f for f in _computed(label, kind, fit) if f.code not in codes]
    return flags


def skipped_laws(fits: dict, out: Path) -> dict[str, str]:
    """Laws not fitted, with the reason: fits.json's "skipped" and the fit stage's marker (skipped_fits)."""
    skipped = dict(fits.get("skipped") or {})
    marker = out / "stages" / "fit_predict.json"
    if marker.is_file():
        for key, why in (json.loads(marker.read_text()).get("skipped_fits") or {}).items():
            skipped.setdefault(key, why)
    return {str(k): str(v) for k, v in sorted(skipped.items())}
