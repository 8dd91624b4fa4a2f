"""Results of the task law (Hu et al. 2024, PU(N) = exp(-c N^-alpha)), following docs' fit-results contract:
declared fields, `kind`, to_dict/from_dict (exact round trip), conf_int(alpha), predict(N, alpha) with a
PREDICTION interval for the PassUntil value a model of size N will measure, and summary() with honest labels.

Predictions from a loaded fits file: `task_law_from_dict(d).predict(N, alpha)` (no refit).
"""
from __future__ import annotations

import math
from dataclasses import Field, asdict, dataclass, field, fields
from typing import Any, ClassVar

import numpy as np
from scipy import stats

from analysis.results import AnalysisError

N_DRAWS = 4000


def pu_of(f):
    with np.errstate(over="ignore"):  # exp(-exp(F)) is 0 for a huge F, as it should be
        return np.exp(-np.exp(f))


def f_of(pu):
    return np.log(-np.log(pu))


class PUPrediction(tuple):
    """(estimate, low, high) arrays over the N asked for, unpacking like the old 3-tuple, plus the method used,
    why it was used, the level and what the interval is."""

    method: str
    why: str
    level: float
    interval: str

    def __new__(cls, estimate, low, high, method: str, why: str, level: float, interval: str):
        self = super().__new__(cls, (np.asarray(estimate, float), np.asarray(low, float), np.asarray(high, float)))
        self.method, self.why, self.level, self.interval = method, why, level, interval
        return self

    @property
    def estimate(self):
        return self[0]

    @property
    def low(self):
        return self[1]

    @property
    def high(self):
        return self[2]

    def as_dict(self, i: int = 0) -> dict:
        return {"estimate": float(self[0][i]), "low": float(self[1][i]), "high": float(self[2][i]), "level": self.level,
                "interval": self.interval, "method": self.method, "why": self.why}


def measured_pu(rng, pu: np.ndarray, r: int) -> np.ndarray:
    """What PassUntil would report for instances of true pass rate `pu` (any shape): the unbiased
    per-instance estimate, (r-1)/(K-1), or 1[K = 1] for r = 1 (no cap at the predicted size)."""
    p = np.clip(pu, 1e-12, 1.0)
    k = r + rng.negative_binomial(r, p)
    return (k == 1).astype(float) if r == 1 else (r - 1) / (k - 1)


def _exp(value: float) -> float:
    """exp that is inf past the float range (a huge log c from an instance that barely passed), not an error."""
    return math.exp(value) if value < 709.0 else math.inf


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "nan"
    return str(value) if isinstance(value, (int, np.integer)) else f"{value:.4g}"


def _json(value):
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_json(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


class _Contract:
    """to_dict/from_dict over the declared fields (plus read-only views for older readers)."""
    kind = ""
    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]  # set by @dataclass on every subclass

    @property
    def params(self) -> dict:
        raise NotImplementedError(f"{type(self).__name__} must define params")

    def conf_int(self, alpha: float = 0.05) -> dict:
        raise NotImplementedError(f"{type(self).__name__} must define conf_int")

    def _law_spec(self) -> dict:
        return {}

    def to_dict(self) -> dict:
        return {"kind": self.kind, **_json(asdict(self)), **self._views()}

    @classmethod
    def from_dict(cls, d: dict):
        if d.get("kind") != cls.kind:
            raise AnalysisError(f"a {d.get('kind')!r} fit cannot be read as {cls.kind!r}")
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})

    def _views(self) -> dict:
        cis = self.conf_int(0.05)
        spec = self._law_spec()
        return {"law": self.kind, "confidence": 0.95, **({"law_spec": spec} if spec else {}),
                "params": {k: {"estimate": _json(v), "ci_low": _json(cis.get(k, (None, None))[0]),
                               "ci_high": _json(cis.get(k, (None, None))[1])} for k, v in self.params.items()}}

    @property
    def table(self):
        """(sizes, mean PU per size, None) for the task-law figure."""
        sizes = np.array([float(k) for k in self.mean_pu])
        return sizes, np.array(list(self.mean_pu.values()), float), None


@dataclass
class TaskLawResults(_Contract):
    """Dataset level: one line in F = log(-log PU) against log N, F = log c - alpha log N.
    method 'wls': least squares (equal weights) on F of each size's mean PU, t intervals with n - 2 df;
    method 'glm': one pass rate per size shared by all instances (binomial, log-log link)."""
    kind = "task_law"
    task: str
    method: str
    why: str
    log_c: float
    alpha: float
    cov: list            # covariance of (log c, alpha)
    df_resid: float | None  # t degrees of freedom (None: normal, the GLM)
    resid_var: float     # scatter of a size's F around the line (0 for the GLM)
    r: int
    n_instances: int
    n_censored: int
    mean_pu: dict        # "N" -> mean instance PU at that size
    heterogeneity: dict  # likelihood-ratio test: do instances share one pass rate per size?
    gof: dict = field(default_factory=dict)
    formula: str = "PU(N) = exp(-c N^-alpha)"
    provenance: dict = field(default_factory=dict)

    @property
    def params(self) -> dict:
        return {"c": _exp(self.log_c), "alpha": self.alpha, "log_c": self.log_c}

    def _law_spec(self) -> dict:
        """(log c, alpha) and covariance for readers that draw the line themselves (prefer predict())."""
        return {"log_c": self.log_c, "alpha": self.alpha, "cov": self.cov, "df": self.df_resid, "method": self.method}

    @property
    def data(self) -> dict:
        return {"task": self.task, "method": self.method, "n_models": len(self.mean_pu), "n_instances": self.n_instances,
                "n_censored": self.n_censored}

    def _quantile(self, alpha: float) -> float:
        q = 1 - alpha / 2
        return float(stats.t.ppf(q, self.df_resid) if self.df_resid else stats.norm.ppf(q))

    def conf_int(self, alpha: float = 0.05) -> dict:
        z = self._quantile(alpha)
        cov = np.asarray(self.cov)
        lc = (self.log_c - z * math.sqrt(cov[0, 0]), self.log_c + z * math.sqrt(cov[0, 0]))
        return {"log_c": lc, "c": (_exp(lc[0]), _exp(lc[1])),
                "alpha": (self.alpha - z * math.sqrt(cov[1, 1]), self.alpha + z * math.sqrt(cov[1, 1]))}

    def predict(self, N, alpha: float = 0.05, measured: bool = True, seed: int = 0) -> PUPrediction:
        """PU at N. measured=True: a prediction interval for the mean PU PassUntil will report there
        (line uncertainty + the scatter of sizes around it, t with df_resid); False: the line's interval only."""
        N = np.atleast_1d(np.asarray(N, float))
        g = np.column_stack([np.ones_like(N), -np.log(N)])
        f = self.log_c - self.alpha * np.log(N)
        var = np.einsum("ij,jk,ik->i", g, np.asarray(self.cov), g)
        if measured and self.method == "wls":
            var = var + self.resid_var
        z = self._quantile(alpha)
        est, low, high = pu_of(f), pu_of(f + z * np.sqrt(var)), pu_of(f - z * np.sqrt(var))
        what = "confidence interval of the line"
        if measured and self.method == "glm":  # the shared rate, then what r-sampling of each instance reports
            rng = np.random.default_rng(seed)
            fd = f[None, :] + np.sqrt(var)[None, :] * rng.standard_normal((N_DRAWS, 1))
            draws = measured_pu(rng, np.repeat(pu_of(fd)[..., None], self.n_instances, -1), self.r).mean(-1)
            low, high = np.quantile(draws, [alpha / 2, 1 - alpha / 2], axis=0)
        if measured:
            what = "prediction interval of the measured mean PU"
        dist = f"t({self.df_resid:g})" if self.df_resid else "normal"
        return PUPrediction(est, low, high, self.method, self.why, 1 - alpha, f"{what} ({dist})")

    def summary(self, alpha: float = 0.05) -> str:
        cis = self.conf_int(alpha)
        dist = f"t, {self.df_resid:g} df" if self.df_resid else "normal"
        lines = [f"task law ({self.method}): {self.formula}", f"why this method: {self.why}", "-" * 64,
                 f"{'parameter':<10} {'estimate':>12}  {f'{1 - alpha:.0%} confidence interval ({dist})':>34}"]
        for k, v in self.params.items():
            lines.append(f"{k:<10} {_fmt(v):>12}  [{_fmt(cis[k][0]):>12}, {_fmt(cis[k][1]):>12}]")
        lines += ["-" * 64, f"task: {self.task}", f"instances: {self.n_instances} ({self.n_censored} censored records)",
                  f"model sizes: {len(self.mean_pu)}", _heterogeneity_line(self.heterogeneity)]
        return "\n".join(lines)


@dataclass
class InstanceTaskLawResults(_Contract):
    """Instance level (IPU): each instance's own law by maximum likelihood; the task's PU is their mean.
    Exponents are shrunk towards their mean by their noise (random effects); 'fitted': passed at 2+ sizes;
    'shared_slope': passed at one size only, exponent drawn from the instances' spread around the mean;
    instances that never passed (zero_ids) are bounded between 0 and what zero passes allow at the level asked."""
    kind = "task_law_instance"
    task: str
    method: str
    why: str
    t0: float              # log N is centred at t0: PU_i = exp(-exp(a_i - b_i (log N - t0)))
    a: list                # per instance: intercept given its (shrunk) exponent
    b: list                # per instance: exponent (shrunk)
    var_a: list
    var_b: list            # each instance's own exponent variance (independent between instances)
    slope_loading: list    # its loading on the mean exponent's error (shared by all instances)
    centre: list           # log N - t0 where the instance's own data pin its line (draws rotate about it)
    status: list           # "fitted" | "shared_slope"
    instance_ids: list
    slope_mean: float      # the mean exponent over instances (random effects)
    slope_mean_var: float
    slope_tau2: float      # variance of the true exponents over instances
    zero_ids: list         # never passed
    zero_samples: list     # their samples at each size (for the bound)
    zero_t: list
    r: int
    n_censored: int
    mean_pu: dict
    heterogeneity: dict
    n_unconverged: int = 0
    line_spec: dict = field(default_factory=dict)  # the least-squares line on the mean PU, for old readers of law_spec
    formula: str = "IPU(N) = mean_i exp(-c_i N^-alpha_i)"
    provenance: dict = field(default_factory=dict)

    @property
    def n_instances(self) -> int:
        return len(self.a) + len(self.zero_ids)

    def _law_spec(self) -> dict:
        """Readers that draw (log c, alpha) themselves get the least-squares line, labelled as such; the instance
        method's own prediction is predict() (task_law_from_dict(d).predict(N, alpha))."""
        return dict(self.line_spec)

    def _log_c(self) -> np.ndarray:
        return np.array(self.a) + np.array(self.b) * self.t0

    @property
    def params(self) -> dict:
        return {"alpha": self.slope_mean, "alpha_spread": math.sqrt(self.slope_tau2), "c": _exp(float(self._log_c().mean())),
                "log_c": float(self._log_c().mean())}

    @property
    def data(self) -> dict:
        counts = {s: self.status.count(s) for s in ("fitted", "shared_slope")}
        return {"task": self.task, "method": self.method, "n_instances": self.n_instances, "n_fitted": counts["fitted"],
                "n_shared_slope": counts["shared_slope"], "n_zero": len(self.zero_ids), "n_censored": self.n_censored,
                "n_carried": counts["shared_slope"] + len(self.zero_ids),
                "rule": "instances that passed at one size only take the mean exponent (drawn with the instances' spread); "
                        "instances that never passed are bounded by what zero passes allow (not carried at the largest model's PU)"}

    def conf_int(self, alpha: float = 0.05) -> dict:
        """alpha: the mean exponent (normal, random-effects variance); log_c, c: the mean log c over the fitted
        instances, from the same parameter draws as predict(). alpha_spread (sd over instances) has no interval."""
        z = stats.norm.ppf(1 - alpha / 2)
        half_a = z * math.sqrt(self.slope_mean_var)
        a, b = self._param_draws(np.random.default_rng(0))
        lc = tuple(float(v) for v in np.quantile((a + b * self.t0).mean(1), [alpha / 2, 1 - alpha / 2]))
        return {"alpha": (self.slope_mean - half_a, self.slope_mean + half_a), "log_c": lc, "c": (_exp(lc[0]), _exp(lc[1]))}

    def _param_draws(self, rng, n_draws: int = N_DRAWS):
        """(a, b) draws (N_DRAWS, n_inst): own errors per instance, the mean exponent's error shared by all,
        the intercept rotating about the point where the instance's data pin its line."""
        a, b = np.array(self.a), np.array(self.b)
        z = rng.standard_normal((n_draws, len(a), 2))
        common = math.sqrt(self.slope_mean_var) * rng.standard_normal((n_draws, 1))
        db = np.sqrt(np.array(self.var_b)) * z[..., 1] + np.array(self.slope_loading) * common
        da = np.sqrt(np.array(self.var_a)) * z[..., 0] + db * np.array(self.centre)
        return a + da, b + db

    def _draws(self, N, alpha, rng, n_draws: int = N_DRAWS):
        """Per-instance PU at N: (point (n_inst, len N), draws (N_DRAWS, n_inst, len N))."""
        t = np.log(N) - self.t0
        a, b = np.array(self.a), np.array(self.b)
        point = pu_of(a[:, None] - b[:, None] * t)
        a_d, b_d = self._param_draws(rng, n_draws)
        draws = pu_of(a_d[..., None] - b_d[..., None] * t)
        if self.zero_ids:
            from analysis.instance_fit import zero_pass_bound

            bound = zero_pass_bound(np.array(self.zero_t), np.array(self.zero_samples, float), self.slope_mean, 1 - alpha)
            upper = pu_of(bound[:, None] - self.slope_mean * t)
            point = np.vstack([point, np.zeros_like(upper)])
            draws = np.concatenate([draws, rng.uniform(size=(n_draws, len(bound), 1)) * upper], axis=1)
        return point, draws

    def predict(self, N, alpha: float = 0.05, measured: bool = True, seed: int = 0, n_draws: int = N_DRAWS) -> PUPrediction:
        """Mean PU over the instances at N. measured=True: a prediction interval for the mean PU that PassUntil
        (same r) will report at N: parameter draws per instance, then the r-sampling of each instance;
        measured=False: an interval for the instances' true mean PU."""
        N = np.atleast_1d(np.asarray(N, float))
        rng = np.random.default_rng(seed)
        point, draws = self._draws(N, alpha, rng, n_draws)
        if measured:
            draws = measured_pu(rng, draws, self.r)
        low, high = np.quantile(draws.mean(1), [alpha / 2, 1 - alpha / 2], axis=0)
        what = "prediction interval of the measured mean PU" if measured else "interval of the instances' true mean PU"
        return PUPrediction(point.mean(0), low, high, self.method, self.why, 1 - alpha, what + " (simulation)")

    def summary(self, alpha: float = 0.05) -> str:
        cis, p, d = self.conf_int(alpha), self.params, self.data
        q1, q3 = np.quantile(self.b, [0.25, 0.75])
        return "\n".join([
            f"task law, instance level ({self.method}): {self.formula}", f"why this method: {self.why}", "-" * 64,
            f"alpha, mean exponent over instances: {_fmt(p['alpha'])}  {1 - alpha:.0%} confidence interval "
            f"[{_fmt(cis['alpha'][0])}, {_fmt(cis['alpha'][1])}]",
            f"alpha, spread of true exponents over instances (sd): {_fmt(p['alpha_spread'])}; interquartile range of the "
            f"instances' exponents [{_fmt(q1)}, {_fmt(q3)}] (a spread, not an interval of the estimate)",
            f"c, geometric mean over instances: {_fmt(p['c'])}  {1 - alpha:.0%} CI [{_fmt(cis['c'][0])}, {_fmt(cis['c'][1])}]",
            "-" * 64, f"task: {self.task}",
            f"instances: {d['n_instances']} = {d['n_fitted']} fitted + {d['n_shared_slope']} with the mean exponent "
            f"(passed at one size) + {d['n_zero']} never passed (bounded)",
            f"censored records: {self.n_censored}; fits that did not converge: {self.n_unconverged}",
            _heterogeneity_line(self.heterogeneity)])


def _heterogeneity_line(h: dict) -> str:
    if not h:
        return "heterogeneity test: not run"
    return (f"heterogeneity (instances share one rate per size?): LR = {_fmt(h['lr'])}, df = {h['df']}, "
            f"p = {_fmt(h['p_value'])} -> {'instances differ' if h['differ'] else 'no evidence they differ'}")


def task_law_from_dict(d: dict):
    """The results class of a task-law fit read back from JSON."""
    for cls in (TaskLawResults, InstanceTaskLawResults):
        if d.get("kind") == cls.kind:
            return cls.from_dict(d)
    raise AnalysisError(f"not a task-law fit (kind {d.get('kind')!r}); re-fit with `emergent fit task-law`")


def predict_passuntil(d: dict, N: float, alpha: float = 0.05) -> dict:
    """One prediction path for `emergent predict`: the loaded fit's own prediction interval at N."""
    return task_law_from_dict(d).predict(N, alpha).as_dict()
