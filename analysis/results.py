"""The results object every law returns, and the fit-JSON contract (see docs/CONTRACTS.md)."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable, ClassVar

import numpy as np

from analysis.loss_law_forms import loss_law, loss_vs_size
from contracts.atomic import write_text_atomic
from contracts.errors import InputError
from contracts.provenance import provenance
from contracts.table import format_table


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
    # Set by the loss-law fits, not serialised: the bootstrap draws (natural parameters, one row per refit)
    # and, for L(N), (eta, eta_draws=None) -> (N*, low, high).
    draws: np.ndarray | None = field(default=None, repr=False, compare=False)
    size_threshold: Callable | None = field(default=None, repr=False, compare=False)

    kind: ClassVar[str] = "fit"

    def conf_int(self, alpha: float | None = None) -> dict[str, tuple[float, float]]:
        """The intervals computed at fit time (level 1 - self.alpha); another level needs a refit."""
        if alpha is not None and not math.isclose(alpha, self.alpha):
            raise AnalysisError(f"{self.law}: intervals were computed at level {1 - self.alpha:g}; refit for {1 - alpha:g}")
        return dict(self.intervals)

    @classmethod
    def from_dict(cls, d: dict) -> FitResults:
        """A fit read back from its JSON form (no predictor: prediction works from the serialised fields)."""
        reserved = {"law", "formula", "params", "confidence", "data", "goodness_of_fit", "versions", "git_revision", "kind"}
        params = {k: v["estimate"] for k, v in d["params"].items()}
        intervals = {k: (v["ci_low"], v["ci_high"]) for k, v in d["params"].items()}
        return cls(law=d["law"], formula=d["formula"], params=params, intervals=intervals, data=d.get("data", {}),
                   gof=d.get("goodness_of_fit", {}), extra={k: v for k, v in d.items() if k not in reserved},
                   alpha=1 - d.get("confidence", 0.95))

    def predict(self, *args, **kwargs):
        if self.predictor is None:
            raise AnalysisError(f"{self.law} has no prediction")
        return self.predictor(*args, **kwargs)

    def summary(self) -> str:
        rows = [(name, _fmt(value), _interval(self.intervals.get(name, (math.nan, math.nan))))
                for name, value in self.params.items()]
        lines = [f"{self.law}: {self.formula}",
                 format_table(("parameter", "estimate", f"{100 * (1 - self.alpha):g}% interval"), rows)]
        for key, value in {**self.data, **self.gof}.items():
            if not isinstance(value, (dict, list)):
                lines.append(f"{key}: {_fmt(value) if isinstance(value, float) else value}")
        for key, value in self.extra.items():
            if not isinstance(value, (dict, list)):
                lines.append(f"{key}: {_fmt(value) if isinstance(value, float) else value}")
        lines += flag_lines(self.extra.get("flags"))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        made_with = provenance()
        return {
            "kind": self.law,
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


def _quantile_interval(samples, alpha: float) -> tuple[float, float]:
    low, high = np.quantile(np.asarray(samples, float), [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def _made_with() -> dict:
    made = provenance()
    return {"versions": made["versions"], "git_revision": made["git_revision"]}


def _growth_line(g: dict) -> str:
    """The prediction scatter's growth in one line: var = a + b d^2 (+ c e^2), and b's pooling."""
    size = f" + {_fmt(g['c'])} e^2 (e: e-folds of size above {_fmt(g['params_max'])})" if g.get("c") else ""
    line = (f"scatter: var = {_fmt(g['a'])} + {_fmt(g['b'])} d^2{size} (d: loss below {_fmt(g['loss_min'])}; "
            f"from {g.get('n_fits', '?')} extrapolation fits)")
    pooled = g.get("pooled")
    if pooled:
        weight = "complete pooling" if pooled.get("prior_weight") is None else f"prior weight {_fmt(pooled['prior_weight'])} fits"
        line += f"; b pooled over {pooled['tasks']} tasks (own {_fmt(g['b_task'])}, ladder mean {_fmt(pooled['mean_b'])}, {weight})"
    return line


@dataclass
class LossCurveResults:
    """Performance vs loss for one (task, metric), for prediction: the curve chosen by held-out error,
    its bootstrap-over-runs draws and the residual scatter (see analysis/curve_family.py). The emergence
    classification (a separate test) travels with it in `emergence`."""

    kind: ClassVar[str] = "loss_curve"
    task: str
    metric: str
    model: str
    params: dict[str, float]
    draws: list[list[float]]
    residual_quantiles: list[float]
    higher_is_better: bool
    random_baseline: float
    ceiling: float | None  # z units (metric's best value minus the baseline, oriented); None: unbounded
    floor: float
    l_ref: float
    selection: dict
    data: dict
    classification: str
    emergence: dict
    made_with: dict = field(default_factory=_made_with)
    flags: list = field(default_factory=list)  # contract flags: [{"code", "message"}], e.g. at_bound
    # Other curves the choice picks on resampled held-out runs: {model: {share, params, draws,
    # residual_quantiles}}; predictions mix them in (the chosen curve keeps the rest of the share).
    mixture: dict = field(default_factory=dict)
    # The held-out error's growth with extrapolation distance: var(d) = a + b d^2 below loss_min, with
    # standardised residual quantiles; when present, predictions scale the scatter by it.
    scatter_growth: dict | None = None

    def _z_to_value(self, z):
        return self.random_baseline + (1.0 if self.higher_is_better else -1.0) * np.asarray(z, float)

    def conf_int(self, alpha: float = 0.05) -> dict[str, tuple[float, float]]:
        """Percentile intervals of the curve's parameters over refits on runs resampled with replacement."""
        from analysis.curve_family import PARAM_NAMES

        draws = np.asarray(self.draws, float)
        return {name: _quantile_interval(draws[:, i], alpha) for i, name in enumerate(PARAM_NAMES[self.model])}

    def curve(self, loss) -> np.ndarray:
        """The metric's value on the fitted curve (no interval)."""
        from analysis.curve_family import PARAM_NAMES, evaluate

        theta = [self.params[n] for n in PARAM_NAMES[self.model]]
        return self._z_to_value(evaluate(self.model, theta, np.atleast_1d(np.asarray(loss, float)), self.ceiling,
                                         self.floor, self.l_ref))

    def samples(self, x, loss_draws=None, n_draws: int = 4000, seed: int = 0, params: float | None = None) -> np.ndarray:
        """Draws of the metric's value of a new checkpoint at loss x (or at the given loss draws); with a
        mixture, each draw's curve is the chosen one or another in the shares the resampled choice gave.
        `params`: the new model's size, when known (the scatter grows with it beyond the fitted sizes)."""
        from analysis.curve_family import predictive_draws

        rng = np.random.default_rng(seed)
        draws = np.full(n_draws, float(x)) if loss_draws is None else rng.choice(np.asarray(loss_draws, float), n_draws)
        parts = [(self.model, self.draws, self.residual_quantiles, self.scatter_growth)] + [
            (m, c["draws"], c["residual_quantiles"], c.get("scatter_growth")) for m, c in sorted(self.mixture.items())]
        shares = [1.0 - sum(c["share"] for c in self.mixture.values())] + [c["share"] for _, c in sorted(self.mixture.items())]
        counts = rng.multinomial(n_draws, np.clip(shares, 0, None) / np.clip(shares, 0, None).sum()) if self.mixture else [n_draws]
        edges = np.concatenate([[0], np.cumsum(counts)])
        z = np.concatenate([predictive_draws(m, np.asarray(d, float), g["standardised_quantiles"] if g else q, draws[a:b],
                                             self.ceiling, self.floor, self.l_ref, seed=seed + i, growth=g,
                                             params=params)
                            for i, ((m, d, q, g), a, b) in enumerate(zip(parts, edges, edges[1:])) if b > a])
        return self._z_to_value(z)

    def method(self, with_loss_draws: bool) -> str:
        mix = "".join(f", {c['share']:.0%} {m}" for m, c in sorted(self.mixture.items()))
        curves = f"{self.model} curve" + (f" (mixed with{mix[1:]} as the choice on resampled held-out runs)" if mix else "")
        scatter = ("held-out residuals scaled by extrapolation distance" if self.scatter_growth
                   else "checkpoint residuals")
        pooled = (self.scatter_growth or {}).get("pooled")
        if pooled:
            scatter += f" (growth pooled over {pooled['tasks']} tasks)"
        return (f"{curves}; bootstrap over runs + {scatter}"
                + (" + loss-law draws" if with_loss_draws else " at a fixed loss"))

    def predict(self, x, alpha: float = 0.05, loss_draws=None, n_draws: int = 4000, seed: int = 0,
                params: float | None = None) -> dict:
        """The metric's value of a new checkpoint at loss x (scalar): estimate and a prediction interval.

        loss_draws: draws of an uncertain loss (e.g. from the loss law) instead of the fixed x;
        params: the new model's size, when known."""
        low, high = _quantile_interval(self.samples(x, loss_draws, n_draws, seed, params), alpha)
        return {"estimate": float(self.curve([x])[0]), "low": low, "high": high, "level": 1 - alpha,
                "method": self.method(loss_draws is not None)}

    def summary(self) -> str:
        from analysis.curve_family import FORMULAS

        ci = self.conf_int(0.05)
        lines = [f"loss curve {self.task}|{self.metric}: {FORMULAS[self.model]}  (model chosen by "
                 f"{self.selection['criterion']}, {self.selection['scheme']})",
                 format_table(("parameter", "estimate", "95% interval (runs bootstrap)"),
                              [(name, _fmt(value), _interval(ci[name])) for name, value in self.params.items()])]
        scores = ", ".join(f"{m} {_fmt(v)}" for m, v in self.selection["scores"].items())
        lines.append(f"{self.selection['criterion']} per model: {scores}")
        if self.selection.get("rule"):
            lines.append(f"choice: {self.selection['rule']}")
        if self.scatter_growth:
            lines.append(_growth_line(self.scatter_growth))
        lines.append(f"ceiling (above random): {_fmt(self.ceiling) if self.ceiling is not None else 'none (unbounded)'}; "
                     f"direction: {'higher' if self.higher_is_better else 'lower'} is better")
        lines.append(f"emergence test (separate): {self.classification}")
        lines += flag_lines(self.flags)
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return _clean({"kind": self.kind, **asdict(self)})

    @classmethod
    def from_dict(cls, d: dict) -> LossCurveResults:
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


@dataclass
class LossLawResults:
    """A loss law (L(N, D) or L(N)) with its bootstrap draws and log residuals, for prediction."""

    kind: ClassVar[str] = "loss_law"
    law: str  # "loss_law" (L(N, D)) or "loss_vs_size" (L(N))
    formula: str
    names: list[str]
    point: list[float]
    draws: list[list[float]]
    log_residuals: list[float]
    data: dict
    gof: dict
    extra: dict = field(default_factory=dict)
    made_with: dict = field(default_factory=_made_with)
    flags: list = field(default_factory=list)  # contract flags: at_bound, bootstrap_at_bound

    @property
    def params(self) -> dict[str, float]:
        return dict(zip(self.names, self.point))

    def _evaluate(self, natural, N, D=None):
        """The law at N (and D): a point (p,) -> like N; draws (B, p) -> (B, len(N)), by the law's formula."""
        natural = np.asarray(natural, float)
        columns = natural.T[..., None] if natural.ndim == 2 else natural  # one (B, 1) column per parameter
        if self.law == "loss_law":
            if D is None:
                raise AnalysisError("the loss law L(N, D) needs the token budget D (--tokens)")
            return loss_law(columns, N, D)
        return loss_vs_size(columns, N)

    def conf_int(self, alpha: float = 0.05) -> dict[str, tuple[float, float]]:
        draws = np.asarray(self.draws, float)
        if not len(draws):
            return {n: (math.nan, math.nan) for n in self.names}
        return {n: _quantile_interval(draws[:, i], alpha) for i, n in enumerate(self.names)}

    def loss_draws(self, N: float, D: float | None = None, n_draws: int = 4000, seed: int = 0,
                   with_scatter: bool = True) -> tuple[float, np.ndarray]:
        """Point loss and draws: bootstrap refits (parameter and between-run uncertainty), times a
        resampled log residual (how far one run lies from the law)."""
        rng = np.random.default_rng(seed)
        N_arr, D_arr = np.atleast_1d(float(N)), None if D is None else np.atleast_1d(float(D))
        point = float(self._evaluate(self.point, N_arr, D_arr)[0])
        draws = np.asarray(self.draws, float)
        law = (np.asarray(self._evaluate(draws, N_arr, D_arr), float)[:, 0] if len(draws) else np.array([point]))
        samples = law[rng.integers(0, len(law), n_draws)]
        if with_scatter and len(self.log_residuals):
            samples = samples * np.exp(np.asarray(self.log_residuals)[rng.integers(0, len(self.log_residuals), n_draws)])
        return point, samples

    def predict(self, x, alpha: float = 0.05) -> dict:
        """x = N (L(N)) or (N, D) (L(N, D)): the final loss of a new run, with a prediction interval."""
        scalar: bool = np.isscalar(x)  # a plain bool: isscalar's TypeGuard would narrow x to numpy scalar types
        N, D = (x, None) if scalar else (x[0], x[1] if len(x) > 1 else None)
        point, samples = self.loss_draws(N, D)
        low, high = _quantile_interval(samples, alpha)
        return {"estimate": point, "low": low, "high": high, "level": 1 - alpha,
                "method": "bootstrap over runs + resampled log residual" if self.draws else "log residuals only"}

    def summary(self) -> str:
        ci = self.conf_int(0.05)
        lines = [f"{self.law}: {self.formula}",
                 format_table(("parameter", "estimate", "95% interval (bootstrap)"),
                              [(name, _fmt(value), _interval(ci[name])) for name, value in self.params.items()])]
        for key, value in {**self.data, **self.gof}.items():
            lines.append(f"{key}: {_fmt(value) if isinstance(value, float) else value}")
        if not self.draws:
            lines.append("no bootstrap (--bootstrap 0): parameter intervals are not available")
        lines += flag_lines(self.flags)
        return "\n".join(lines)

    def to_dict(self) -> dict:
        out = _clean({"kind": self.kind, **asdict(self)})
        # The legacy view (params with intervals) that readers of fit files use.
        ci = self.conf_int(0.05)
        out["params"] = {n: {"estimate": _clean(v), "ci_low": _clean(ci[n][0]), "ci_high": _clean(ci[n][1])}
                         for n, v in self.params.items()}
        return out

    @classmethod
    def from_dict(cls, d: dict) -> LossLawResults:
        if "names" not in d:  # a fits file written before results had their own classes
            return cls(law=d["law"], formula=d["formula"], names=list(d["params"]),
                       point=[v["estimate"] for v in d["params"].values()], draws=d.get("bootstrap_draws") or [],
                       log_residuals=d.get("log_residuals") or [], data=d.get("data", {}),
                       gof=d.get("goodness_of_fit", {}))
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})

    @classmethod
    def from_fit(cls, fit: FitResults) -> LossLawResults:
        """The serialisable results of LossLawModel / LossVsSizeModel fits."""
        keep = {k: v for k, v in fit.extra.items() if k not in ("bootstrap_draws", "log_residuals", "flags")}
        return cls(law=fit.law, formula=fit.formula, names=list(fit.params), point=[float(v) for v in fit.params.values()],
                   draws=_clean(fit.extra.get("bootstrap_draws", [])), log_residuals=_clean(fit.extra.get("log_residuals", [])),
                   data=_clean(fit.data), gof=_clean(fit.gof), extra=_clean(keep), flags=_clean(fit.extra.get("flags", [])))


RESULT_CLASSES = {"loss_curve": LossCurveResults, "loss_law": LossLawResults}


def bound_flags(names, point, draws, bounded: dict[str, tuple[float, float]], tol: float = 1e-6) -> list[dict]:
    """Contract flags (docs/CONTRACTS.md, "Flags on fits"): `at_bound` for each bounded parameter of
    the point fit that sits at an optimiser bound, `bootstrap_at_bound` with the share of bootstrap
    refits that hit one. A fit at a bound is a boundary solution: its interval there is not trustworthy."""
    flags: list[dict[str, Any]] = []
    draws = np.asarray(draws, float).reshape(-1, len(names))
    for name, (lo, hi) in bounded.items():
        i = list(names).index(name)
        for side, bound in (("lower", lo), ("upper", hi)):
            if _at(point[i], bound, tol):
                flags.append({"code": "at_bound", "message": f"{name} = {point[i]:.4g} sits at its {side} bound "
                              f"{bound:g} in the point fit; the data do not pin it down"})
        if len(draws):
            hits = np.array([_at(v, lo, tol) or _at(v, hi, tol) for v in draws[:, i]])
            if hits.any():
                flags.append({"code": "bootstrap_at_bound", "share": float(hits.mean()), "parameter": name,
                              "message": f"{name} sits at a bound ({lo:g} or {hi:g}) in {hits.sum()} of {len(hits)} "
                                         f"bootstrap refits ({hits.mean():.0%}); its interval is cut there"})
    return flags


def _at(value: float, bound: float, tol: float = 1e-6) -> bool:
    return math.isfinite(bound) and abs(float(value) - bound) <= tol * max(1.0, abs(bound))


def _interval(pair) -> str:
    return f"[{_fmt(pair[0])}, {_fmt(pair[1])}]"


def flag_lines(flags) -> list[str]:
    """The contract's flags, one line each, for a summary."""
    return [f"flag {f.get('code')}: {f.get('message')}" for f in flags or []]


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
