"""A task-law forecast whose interval is learnt from the ladder itself (issue 21).

On real repeated-sampling ladders (Pythia on GSM8K) the task law's own interval, which holds the sampling
noise and the law's parameter noise, was 6-12% wide around predictions off by 1.1-3.7x: what dominates is
misspecification (pass rates plateau across sizes and are not monotone in N), which no interval computed
from the fitted law alone can see. So the forecast learns its error from the ladder:

1. Forward-chain inside the fitted sizes: fit the sizes below N_j, predict N_j, for every fitted N_j with at
   least two smaller sizes. Each error is e_j = log(predicted / measured mean PU) at a distance d_j =
   log(N_j / N_{j-1}) e-folds beyond its fit. Errors of fits on at least 3 sizes are used where there are 2 or
   more of them (two-size fits have no residual and overstate the error of a larger fit); else those on 2.
2. The error grows with the distance: sd = s * d, s^2 = mean(e_j^2 / d_j^2) over the errors, pooled across the
   tasks (and ladders) fitted together, since one task has few steps. Quantiles are Student t with one degree
   of freedom per error.
3. The point predictor is the candidate with the smallest such error on the same steps: the instance law (IPU),
   Hu et al.'s dataset-level line in log(-log PU), or 'flat' (the largest fitted size's mean PU: the plateau that
   real ladders show). Which one, and every candidate's error, is recorded.
4. The interval, symmetric in log PU about the estimate (so the estimate is always inside), holds
   var = (the chosen predictor's parameter variance at N, between-instance spread included) + (s d)^2.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import stats

from analysis.results import AnalysisError

CANDIDATES = ("instance", "line", "flat")
MIN_CALIBRATION_FIT = 3   # errors of fits on this many sizes are preferred when there are 2 or more of them
KIND = "task_law_forecast"
PARTS = ("parameters of the chosen predictor (between-instance spread included) + extrapolation error learnt by "
         "forward chaining inside the fitted sizes (growing with the e-folds beyond the largest fitted size)")


def instance_mean(record: dict) -> float:
    """An instance's PU estimate: the unbiased one where recorded, else passes / samples (exact for a censored
    or fixed-budget record, where the unbiased estimate is x / n)."""
    value = record.get("pu_unbiased")
    return float(value) if value is not None else record["passes"] / record["samples"]


def by_size(records: list[dict]) -> dict[float, list[dict]]:
    out: dict[float, list[dict]] = defaultdict(list)
    for rec in records:
        out[float(rec["params"])].append(rec)
    return dict(sorted(out.items()))


def measured_mean(records: list[dict]) -> float:
    return float(np.mean([instance_mean(r) for r in records]))


# ---- the candidates: each returns (estimate, variance of log estimate) at N, or None where it cannot say

def _flat(sizes_recs: dict[float, list[dict]], N: float):
    recs = sizes_recs[max(sizes_recs)]
    values = np.array([instance_mean(r) for r in recs])
    mean = float(values.mean())
    if mean <= 0:
        return None
    var = float(values.var(ddof=1) / len(values) / mean ** 2) if len(values) > 1 else 0.0
    return mean, var


def _line(sizes_recs: dict[float, list[dict]], N: float):
    ns = np.array(list(sizes_recs))
    means = np.array([measured_mean(v) for v in sizes_recs.values()])
    ok = (means > 0) & (means < 1)
    if ok.sum() < 2:
        return None
    x, f = np.log(ns[ok]), np.log(-np.log(means[ok]))
    X = np.column_stack([np.ones_like(x), x])
    beta, *_ = np.linalg.lstsq(X, f, rcond=None)
    g = np.array([1.0, math.log(N)])
    f_at = float(g @ beta)
    var_f = 0.0
    if ok.sum() > 2:
        resid = f - X @ beta
        cov = float(resid @ resid / (ok.sum() - 2)) * np.linalg.inv(X.T @ X)
        var_f = float(g @ cov @ g)
    log_pu = -math.exp(min(f_at, 700.0))
    if log_pu < -700:
        return None
    return math.exp(log_pu), var_f * log_pu ** 2  # delta method: d log PU / dF = -exp(F) = log PU


def _fit_instance(records: list[dict]):
    """The instance law on `records`, or None where it cannot be fitted."""
    from analysis.task_law import InstanceTaskLawModel

    try:
        return InstanceTaskLawModel(records, task=str(records[0]["task"])).fit()
    except AnalysisError:
        return None


def _instance_estimate(law, N: float, with_var: bool = True):
    """(mean PU over instances, variance of its log over parameter draws) at N from a fitted instance law, or None
    where it predicts no pass. One set of draws gives both (the law's own predict() draws them again)."""
    point, draws = law._draws(np.atleast_1d(float(N)), 0.05, np.random.default_rng(0), 1000 if with_var else 1)
    est = float(point.mean(0)[0])
    if not est > 0:
        return None
    means = draws.mean(1)[:, 0]
    means = means[means > 0]
    return est, float(np.var(np.log(means))) if with_var and len(means) > 1 else 0.0


def _instance(sizes_recs: dict[float, list[dict]], N: float, with_var: bool = True):
    law = _fit_instance([r for v in sizes_recs.values() for r in v])
    return None if law is None else _instance_estimate(law, N, with_var)


PREDICTORS = {"instance": _instance, "line": _line, "flat": _flat}


def _point(name: str, sizes_recs, N: float):
    if name == "instance":
        return _instance(sizes_recs, N, with_var=False)
    return PREDICTORS[name](sizes_recs, N)


@dataclass
class LadderError:
    """One forward-chained step inside a ladder: fit the sizes below N, predict N."""
    ladder: str
    n_fit: int
    size: float
    d: float                       # e-folds beyond the fit's largest size
    measured: float
    log_errors: dict               # candidate -> log(predicted / measured), None where it could not predict


def ladder_errors(records: list[dict], ladder: str = "") -> list[LadderError]:
    """Every one-step forward-chained error inside the sizes of `records` (one task, one ladder)."""
    sizes_recs = by_size(records)
    sizes = list(sizes_recs)
    out = []
    for j in range(2, len(sizes)):
        measured = measured_mean(sizes_recs[sizes[j]])
        fit = {n: sizes_recs[n] for n in sizes[:j]}
        errs: dict = {}
        for name in CANDIDATES:
            p = _point(name, fit, sizes[j]) if measured > 0 else None
            errs[name] = math.log(p[0] / measured) if p is not None else None
        out.append(LadderError(ladder, j, sizes[j], math.log(sizes[j] / sizes[j - 1]), measured, errs))
    return out


def calibration_set(errors: list[LadderError], below: float = math.inf) -> list[LadderError]:
    """The errors a forecast learns from: steps at sizes below `below` (what was known before it trained),
    fits on at least MIN_CALIBRATION_FIT sizes where 2 or more such errors exist."""
    usable = [e for e in errors if e.size < below and any(v is not None for v in e.log_errors.values())]
    larger = [e for e in usable if e.n_fit >= MIN_CALIBRATION_FIT]
    return larger if len(larger) >= 2 else usable


def _scales(errors: list[LadderError]) -> dict[str, tuple[float, int]]:
    """candidate -> (s, n): s^2 = mean(e^2 / d^2) over the steps where every candidate predicted (the same steps
    for all, so the comparison is fair); candidates that failed everywhere are left out."""
    common = [e for e in errors if all(v is not None for v in e.log_errors.values())]
    out = {}
    for name in CANDIDATES:
        steps = common if len(common) >= 1 else [e for e in errors if e.log_errors[name] is not None]
        z2 = [(e.log_errors[name] / e.d) ** 2 for e in steps if e.log_errors[name] is not None]
        if z2:
            out[name] = (math.sqrt(float(np.mean(z2))), len(z2))
    return out


@dataclass
class TaskLawForecast:
    """PU(N) with an interval holding the predictor's parameter noise and the ladder's own extrapolation error."""
    kind = KIND
    task: str
    method: str                   # the chosen predictor
    scale: float                  # s: sd of log(predicted / measured) per e-fold beyond the fit
    df: int                       # errors behind s (Student t degrees of freedom)
    largest_fitted: float
    candidates: dict              # candidate -> {"scale": s, "n": errors}
    errors: list                  # the calibration steps (ladder, n_fit, size, d, measured, log_errors)
    fit_sizes: list
    size_means: dict              # "N" -> measured mean PU at the fitted sizes
    law: dict = field(default_factory=dict)   # the instance law's fit JSON, when it is the chosen predictor
    parts: str = PARTS
    formula: str = "log PU(N) ~ log PU_hat(N) +- t_df * sqrt(var_params(N) + (scale * d)^2), d = max(0, log(N / N_max))"

    def _estimate(self, N: float):
        if self.method == "instance":
            from analysis.task_law_results import task_law_from_dict

            found = _instance_estimate(task_law_from_dict(self.law), N)
            return found if found is not None else (0.0, 0.0)
        sizes_recs = {float(n): [{"pu_unbiased": v, "passes": 0, "samples": 1}] for n, v in self.size_means.items()}
        if self.method == "flat":
            spread = self.law.get("flat_log_var", 0.0)
            return float(self.size_means[f"{self.largest_fitted:.6g}"]), spread
        found = _line(sizes_recs, N)
        if found is None:
            raise AnalysisError(f"task {self.task}: the dataset-level line cannot predict N = {N:.4g}")
        return found

    def predict(self, N: float, levels=(0.9, 0.95)) -> dict:
        if not (isinstance(N, (int, float)) and math.isfinite(N) and N > 0):
            raise AnalysisError(f"model size N = {N!r}: give a positive finite number, e.g. --params 1e9")
        est, var_params = self._estimate(float(N))
        d = max(0.0, math.log(float(N) / self.largest_fitted))
        sd = math.sqrt(var_params + (self.scale * d) ** 2)
        intervals = {}
        for level in sorted(levels):
            q = float(stats.t.ppf((1 + level) / 2, max(self.df, 1)))
            intervals[f"{level:g}"] = [est * math.exp(-q * sd), min(1.0, est * math.exp(q * sd))]
        widest = intervals[f"{max(levels):g}"]
        return {"estimate": est, "low": widest[0], "high": widest[1], "level": max(levels), "intervals": intervals,
                "method": f"forecast ({self.method} predictor): {self.parts}; s = {self.scale:.3g} per e-fold from "
                          f"{self.df} forward-chained error(s), t({max(self.df, 1)})",
                "sd_log": sd, "d_efolds": d, "var_params_log": var_params}

    def to_dict(self) -> dict:
        from analysis.task_law_results import _json

        return {"kind": self.kind, **_json(asdict(self))}

    @classmethod
    def from_dict(cls, d: dict) -> TaskLawForecast:
        if d.get("kind") != KIND:
            raise AnalysisError(f"not a task-law forecast (kind {d.get('kind')!r}); re-fit with `emergent fit task-law`")
        names = {f for f in cls.__dataclass_fields__}
        missing = sorted(names - set(d) - {"law", "parts", "formula"})
        if missing:
            raise AnalysisError(f"task-law forecast lacks {', '.join(missing)}; re-fit with `emergent fit task-law`")
        return cls(**{k: v for k, v in d.items() if k in names})

    def summary(self) -> str:
        cands = ", ".join(f"{k} {v['scale']:.3g}" for k, v in sorted(self.candidates.items(), key=lambda kv: kv[1]["scale"]))
        return "\n".join([
            f"forecast ({self.task}): predictor '{self.method}', chosen by forward-chained error inside the fitted sizes",
            f"  log error per e-fold beyond the fit (rms over {self.df} step(s)): {cands}",
            f"  interval holds: {self.parts}"])


def fit_forecast(records: list[dict], task: str, pooled_errors: list[LadderError] | None = None,
                 own_errors: list[LadderError] | None = None) -> TaskLawForecast:
    """The forecast for one ladder of one task. pooled_errors: forward-chained errors of the other tasks or
    ladders fitted together; own_errors: this ladder's (computed when not given). Only steps at sizes up to the
    largest fitted one are used: what was known before the predicted model trained."""
    sizes_recs = by_size(records)
    if len(sizes_recs) < 3:
        raise AnalysisError(f"task {task}: PassUntil records for {len(sizes_recs)} model size(s); a forecast needs at "
                            "least 3 (two to fit, one to learn the extrapolation error from)")
    own = ladder_errors(records, ladder=task) if own_errors is None else own_errors
    errors = calibration_set(own + list(pooled_errors or []), below=max(sizes_recs) * (1 + 1e-9))
    scales = _scales(errors)
    if not scales:
        raise AnalysisError(f"task {task}: no forward-chained step inside the fitted sizes could be predicted "
                            "(a size's mean PU is 0); raise --max-samples for the small models or add sizes")
    # Only a predictor that can say something at the fitted sizes' end competes (flat needs a pass at the largest).
    instance_law = _fit_instance(records) if "instance" in scales else None  # fitted once: checked here, kept below

    def predicts(name: str) -> bool:
        if name == "instance":
            return instance_law is not None and _instance_estimate(instance_law, max(sizes_recs), with_var=False) is not None
        return _point(name, sizes_recs, max(sizes_recs)) is not None

    able = {k: v for k, v in scales.items() if predicts(k)}
    if not able:
        raise AnalysisError(f"task {task}: neither the instance law, the dataset-level line nor the largest size's mean "
                            "PU can predict (no passes); raise --max-samples or add sizes")
    method = min(able, key=lambda k: (able[k][0], CANDIDATES.index(k)))
    law: dict = {}
    if method == "instance" and instance_law is not None:
        law = instance_law.to_dict()
    elif method == "flat":
        flat = _flat(sizes_recs, 1.0)
        law = {"flat_log_var": flat[1] if flat else 0.0}
    return TaskLawForecast(
        task=task, method=method, scale=scales[method][0], df=scales[method][1], largest_fitted=max(sizes_recs),
        candidates={k: {"scale": s, "n": n} for k, (s, n) in scales.items()},
        errors=[asdict(e) for e in errors], fit_sizes=list(sizes_recs),
        size_means={f"{n:.6g}": measured_mean(v) for n, v in sizes_recs.items()}, law=law)


def fit_forecasts(records: list[dict]) -> tuple[dict[str, TaskLawForecast], dict[str, str]]:
    """A forecast per task, each learning its extrapolation error from its own ladder and the other tasks'
    (one task has few steps). Returns (forecasts, skipped: task -> why)."""
    by_task: dict[str, list[dict]] = defaultdict(list)
    for rec in records:
        by_task[str(rec["task"])].append(rec)
    errors = {task: ladder_errors(recs, ladder=task) for task, recs in by_task.items()}
    forecasts, skipped = {}, {}
    for task, recs in sorted(by_task.items()):
        others = [e for other, errs in errors.items() if other != task for e in errs]
        try:
            forecasts[task] = fit_forecast(recs, task, pooled_errors=others, own_errors=errors[task])
        except AnalysisError as err:
            skipped[task] = str(err)
    return forecasts, skipped


def forecast_from_dict(d: dict) -> TaskLawForecast:
    return TaskLawForecast.from_dict(d)
