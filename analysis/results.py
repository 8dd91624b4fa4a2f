"""The results object every law returns, and the fit-JSON contract (see ../shared/DESIGN.md)."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from contracts.atomic import write_text_atomic
from contracts.errors import InputError
from contracts.provenance import provenance


class AnalysisError(InputError):
    """Bad input for a fit: the message names the task or column and what is needed (exit status 2)."""


@dataclass
class FitResults:
    law: str
    formula: str
    params: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    data: dict[str, Any]
    gof: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    predictor: Callable | None = None  # x -> (estimate, low, high); not serialised
    alpha: float = 0.05

    def conf_int(self) -> dict[str, tuple[float, float]]:
        return dict(self.intervals)

    def predict(self, *args, **kwargs):
        if self.predictor is None:
            raise AnalysisError(f"{self.law} has no prediction")
        return self.predictor(*args, **kwargs)

    def summary(self) -> str:
        width = max([len(k) for k in self.params] + [9])
        lines = [f"{self.law}: {self.formula}", "-" * 64,
                 f"{'parameter'.ljust(width)}  {'estimate':>12}  {'95% interval':>27}"]
        for name, value in self.params.items():
            low, high = self.intervals.get(name, (math.nan, math.nan))
            lines.append(f"{name.ljust(width)}  {_fmt(value):>12}  [{_fmt(low):>12}, {_fmt(high):>12}]")
        lines.append("-" * 64)
        for key, value in {**self.data, **self.gof}.items():
            if not isinstance(value, (dict, list)):
                lines.append(f"{key}: {_fmt(value) if isinstance(value, float) else value}")
        for key, value in self.extra.items():
            if not isinstance(value, (dict, list)):
                lines.append(f"{key}: {_fmt(value) if isinstance(value, float) else value}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        made_with = provenance()
        return {
            "law": self.law,
            "formula": self.formula,
            "params": {k: {"estimate": _clean(v), "ci_low": _clean(self.intervals.get(k, (None, None))[0]),
                           "ci_high": _clean(self.intervals.get(k, (None, None))[1])} for k, v in self.params.items()},
            "confidence": 1 - self.alpha,
            "data": _clean(self.data),
            "goodness_of_fit": _clean(self.gof),
            **_clean(self.extra),
            "versions": made_with["versions"],
            "git_revision": made_with["git_revision"],
        }


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "nan"
    if isinstance(value, (int, np.integer)):
        return str(value)
    return f"{value:.4g}"


def _clean(value):
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def write_fits(path, fits: dict[str, Any]) -> None:
    """One JSON file with every fit of a command (keyed, e.g., by task), written atomically."""
    write_text_atomic(path, json.dumps(fits, indent=2, ensure_ascii=False) + "\n")


def gaussian_loglik(rss: float, n: int) -> float:
    """Maximised log-likelihood of a least-squares fit with Gaussian errors (variance RSS / n)."""
    return -0.5 * n * (math.log(2 * math.pi * max(rss, 1e-300) / n) + 1)


def require_finite(values: np.ndarray, what: str) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    bad = ~np.isfinite(values)
    if bad.any():
        raise AnalysisError(f"{what} has {int(bad.sum())} NaN or infinite value(s); drop or fix those rows")
    return values
