"""Performance against loss for prediction: a family of bounded curves, chosen by held-out error.

Performance is z = value above random (oriented so that larger is better; z = 0 at the random
baseline), the metric's best value is the ceiling C (z_C = 1 - baseline for an accuracy; unknown
for an unbounded metric). The curves of z(L):

- sigmoid: z = c0 + (C - c0) / (1 + exp(-k (L0 - L)))   (floor c0 near 0, ceiling C: Llama 3, OLMo ladder)
- hinge:   z = clip(c0 + s max(0, eta - L))                (threshold, then a linear rise)
- jump:    z = clip(c0 + [j + s (eta - L)] 1[L < eta])     (a leap at eta, then a linear rise)
- line:    z = clip(a + b (L_ref - L))                      (no threshold)

`clip` saturates at the floor and the ceiling the sigmoid has, so no curve predicts beyond the
ceiling (accuracy above 100%) nor far below chance. The floor is min(0, lowest observed z).

The model used for prediction is chosen by held-out error across runs: fitted on the sizes below a
size and scored on that size, for the two largest sizes (forward chaining: what an extrapolation to a
larger model asks of the curve); with fewer than three sizes, leave-one-run-out; with a single run,
BIC (said so in the result). The choice is the simplest model within one standard error (over the
held-out runs) of the smallest held-out error. This is deliberately separate from the emergence
classification (loss_curve.py), which answers its own question with its own test.

Prediction intervals are Monte Carlo: curves refitted on runs resampled with replacement (between-run
variation and parameter uncertainty), plus a residual of the full fit drawn at random (scatter of a
checkpoint around the curve), evaluated at loss draws (the uncertainty of a predicted loss), then
clipped to [floor, ceiling].
"""
from __future__ import annotations

import math

import numpy as np
from scipy.optimize import least_squares
from scipy.special import expit

MODELS = ("sigmoid", "hinge", "jump", "line")  # the candidates of --model auto
BASELINES = ("exponential",)  # Gadre et al. 2024: top-1 error = e - k exp(-gamma L), i.e. z = c + k exp(-gamma L)
PARAM_NAMES = {"exponential": ("c", "k", "gamma"), "sigmoid": ("c0", "k", "L0"), "hinge": ("c0", "s", "eta"),
               "jump": ("c0", "j", "s", "eta"),
               "line": ("a", "b")}
FORMULAS = {"sigmoid": "z = c0 + (C - c0) / (1 + exp(-k (L0 - L)))", "hinge": "z = clip(c0 + s max(0, eta - L))",
            "jump": "z = clip(c0 + [j + s (eta - L)] 1[L < eta])", "line": "z = clip(a + b (L_ref - L))",
            "exponential": "z = clip(c + k exp(-gamma L))  (Gadre et al. 2024)"}
MIN_POINTS_PER_PARAM = 2
TIE_TOLERANCE = 0.05
BIC_TIE = 2.0  # Kass & Raftery (1995): a BIC difference under 2 is "not worth more than a bare mention"


def evaluate(model: str, params, loss, ceiling: float | None, floor: float, l_ref: float,
             paired: bool = False) -> np.ndarray:
    """z at the given losses: params one vector (p,) -> (n,); a batch (B, p) -> (B, n), or (B,) when
    `paired` (row b of params at loss b)."""
    p = np.asarray(params, float)
    loss = np.asarray(loss, float)
    col = (lambda i: p[..., i, None]) if p.ndim == 2 and not paired else (lambda i: p[..., i])
    if model == "sigmoid":
        c0, k, l0 = col(0), col(1), col(2)
        z = c0 + (ceiling - c0) * expit(k * (l0 - loss))
    elif model == "hinge":
        z = col(0) + col(1) * np.clip(col(2) - loss, 0.0, None)
    elif model == "jump":
        below = loss < col(3)
        z = col(0) + (col(1) + col(2) * (col(3) - loss)) * below
    elif model == "line":
        z = col(0) + col(1) * (l_ref - loss)
    elif model == "exponential":
        z = col(0) + col(1) * np.exp(-col(2) * (loss - l_ref))  # k scaled at L_ref: better conditioned
    else:
        raise ValueError(model)
    return np.clip(z, floor, ceiling if ceiling is not None else np.inf)


# ------------------------------------------------------------------------------------------- fits
def _threshold_design(model, loss, eta):
    gap = np.clip(eta - loss, 0.0, None)
    if model == "hinge":
        return np.stack([np.ones_like(gap), gap], axis=-1)
    return np.stack([np.ones_like(gap), (loss < eta).astype(float) * np.ones_like(gap), gap], axis=-1)


def _fit_threshold(model, loss, z, grid):
    """Profile over eta (a grid), ordinary least squares at each: all grid points at once."""
    X = _threshold_design(model, loss[None, :], grid[:, None])  # (G, n, p)
    coef = np.einsum("gpn,n->gp", np.linalg.pinv(X), z)
    rss = ((z[None, :] - np.einsum("gnp,gp->gn", X, coef)) ** 2).sum(axis=1)
    best = int(np.argmin(rss))
    return np.append(coef[best], grid[best])


def param_bounds(model, loss, z, ceiling) -> dict[str, tuple[float, float]] | None:
    """The optimiser's bounds on each parameter of the nonlinear models (None for the linear ones)."""
    span = max(float(np.ptp(loss)), 1e-6)
    if model == "sigmoid":
        bottom = min(float(np.min(z)), 0.0)
        room = max(ceiling - bottom, 1e-9)  # the floor c0 may sit below the data but not at the ceiling
        return {"c0": (bottom - room, ceiling - 1e-3 * room), "k": (1e-3 / span, 200.0 / span),
                "L0": (float(np.min(loss)) - 3 * span, float(np.max(loss)) + span)}
    if model == "exponential":
        return {"c": (-np.inf, np.inf), "k": (0.0, np.inf), "gamma": (0.0, 10.0 / span)}  # gamma: e^10 across the data
    return None


def _fit_sigmoid(loss, z, ceiling, start=None):
    span = max(np.ptp(loss), 1e-6)
    box = param_bounds("sigmoid", loss, z, ceiling)
    lo, hi = box["L0"]
    floor_start = float(min(np.quantile(z, 0.1), 0.0))

    def resid(theta):
        return evaluate("sigmoid", theta, loss, ceiling, -np.inf, 0.0) - z

    starts = [start] if start is not None else [
        np.array([floor_start, k / span, l0]) for k in (3.0, 15.0) for l0 in np.linspace(lo + 2 * span, hi, 4)]
    bounds = tuple(list(side) for side in zip(*box.values()))
    best = None
    for s in starts:
        s = np.clip(s, np.array(bounds[0]) + 1e-9, np.array(bounds[1]) - 1e-9)
        res = least_squares(resid, s, bounds=bounds, method="trf", x_scale="jac", max_nfev=400)
        if best is None or res.cost < best.cost:
            best = res
    return best.x


def eta_grid(loss: np.ndarray, size: int = 40) -> np.ndarray:
    """Candidate thresholds inside the data, with at least two points on each side."""
    ordered = np.sort(loss)
    if len(ordered) < 5:
        return np.array([np.median(ordered)])
    return np.unique(np.quantile(ordered[1:-1], np.linspace(0.02, 0.98, size)))


def fit_model(model, loss, z, ceiling, l_ref, start=None, grid=None) -> np.ndarray:
    loss, z = np.asarray(loss, float), np.asarray(z, float)
    if model == "line":
        X = np.column_stack([np.ones_like(loss), l_ref - loss])
        return np.linalg.lstsq(X, z, rcond=None)[0]
    if model in ("hinge", "jump"):
        return _fit_threshold(model, loss, z, eta_grid(loss) if grid is None else grid)
    if model == "sigmoid":
        return _fit_sigmoid(loss, z, ceiling, start)
    if model == "exponential":
        return _fit_exponential(loss, z, l_ref, start)
    raise ValueError(model)


def _fit_exponential(loss, z, l_ref, start=None):
    span = max(np.ptp(loss), 1e-6)

    def resid(theta):
        return theta[0] + theta[1] * np.exp(-theta[2] * (loss - l_ref)) - z

    starts = [start] if start is not None else [np.array([z.min(), max(np.ptp(z), 1e-3) / 20, g / span])
                                                for g in (0.5, 1.5, 4.0)]
    bounds = tuple(list(side) for side in zip(*param_bounds("exponential", loss, z, None).values()))
    best = None
    for s in starts:
        s = np.clip(s, np.array(bounds[0]), np.array(bounds[1]) - 1e-9)
        res = least_squares(resid, s, bounds=bounds, method="trf", x_scale="jac", max_nfev=200)
        if best is None or res.cost < best.cost:
            best = res
    return best.x


def available(models, ceiling, n_points) -> list[str]:
    """The models a task can use: sigmoid needs a ceiling, every model two points per parameter."""
    out = [m for m in models if not (m == "sigmoid" and ceiling is None)]
    return [m for m in out if n_points >= MIN_POINTS_PER_PARAM * len(PARAM_NAMES[m])]


# ------------------------------------------------------------------------------------------ selection
def heldout_folds(params: np.ndarray, runs: np.ndarray) -> tuple[str, list[tuple[np.ndarray, np.ndarray]]]:
    """(scheme, [(train mask, test mask)]): forward chaining over the two largest sizes, else leave-one-run-out."""
    sizes = np.unique(params)
    if len(sizes) >= 3:
        folds = [(params < s, params == s) for s in sizes[-min(2, len(sizes) - 2):]]
        return "fit on smaller sizes, score the largest two", folds
    labels = np.unique(runs)
    if len(labels) >= 3:
        return "leave one run out", [(runs != r, runs == r) for r in labels]
    return "none (fewer than 3 runs): BIC", []


def _parsimonious(models) -> str:
    """Fewest parameters first; among equals, MODELS' order."""
    return min(models, key=lambda m: (len(PARAM_NAMES[m]), MODELS.index(m) if m in MODELS else len(MODELS)))


def _pick(scores: dict) -> str:
    """The smallest score (BIC), with parsimony among near-ties: within BIC_TIE units of the best. The margin is
    a difference, not a ratio, so it holds for negative BICs (many checkpoints fitted closely: rss/n < 1)."""
    finite = {m: s for m, s in scores.items() if math.isfinite(s)} or scores
    best = min(finite.values())
    return _parsimonious([m for m in finite if finite[m] <= best + BIC_TIE])


def _se_of_difference(diff, counts, weight) -> float:
    """Standard error of a difference of held-out MSEs, clustered by held-out run: `diff` and `counts`
    are each run's difference of squared-error sums and its number of points; `weight` how many times
    each run is counted (1, or its multiplicity in a resample)."""
    clusters = float(weight.sum())
    if clusters < 2:
        return 0.0
    total = float((weight * counts).sum())
    mean = float((weight * diff).sum()) / total
    spread = float((weight * (diff - counts * mean) ** 2).sum())
    return math.sqrt(clusters / (clusters - 1) * spread) / total


def _pick_heldout(squared: dict, counts, candidates, weight=None) -> str:
    """The simplest model whose held-out error is not distinguishable from the best's: within one
    standard error of the best MSE (the difference's SE over held-out runs: the "one-standard-error
    rule" of cross-validation, Hastie et al. 2009 section 7.10) or within TIE_TOLERANCE of its RMSE.
    On a few held-out runs the smallest error alone picks flexible curves on noise (a sigmoid fitted to
    a task at chance climbs to the ceiling far beyond the data); parsimony wins unless the data say
    otherwise. Models not scored (unfittable folds) are chosen only if none was."""
    counts = np.asarray(counts, float)
    weight = np.ones_like(counts) if weight is None else np.asarray(weight, float)
    if not squared:
        return _parsimonious(candidates)
    total = max(float((weight * counts).sum()), 1.0)
    mse = {m: float((weight * sq).sum()) / total for m, sq in squared.items()}
    best = min(mse, key=lambda m: mse[m])
    near = [m for m in mse
            if mse[m] <= mse[best] + _se_of_difference(squared[m] - squared[best], counts, weight) + 1e-15
            or math.sqrt(mse[m]) <= math.sqrt(mse[best]) * (1 + TIE_TOLERANCE) + 1e-12]
    return _parsimonious(near)


def _per_run_squares(residuals: dict, test_runs) -> tuple[dict, np.ndarray, np.ndarray]:
    """(each model's squared held-out residuals summed per held-out run, points per run, run labels)."""
    labels, codes = np.unique(np.asarray(test_runs), return_inverse=True)
    squared = {m: np.bincount(codes, weights=np.asarray(r, float) ** 2, minlength=len(labels))
               for m, r in residuals.items() if r is not None}
    return squared, np.bincount(codes, minlength=len(labels)).astype(float), labels


def select_model(loss, z, params, runs, models, ceiling, floor, l_ref) -> dict:
    """Held-out RMSE (z units) of each candidate model; the smallest is chosen. Also each model's
    residuals on the last fold (the largest size, predicted from all smaller ones), and every fold's
    residuals with the runs they belong to (to resample the choice over runs)."""
    runs = np.asarray(runs)
    scheme, folds = heldout_folds(np.asarray(params), runs)
    scores, last_fold = {}, {}
    all_folds: dict[str, np.ndarray | None] = {}
    for model in models:
        if not folds:
            theta = fit_model(model, loss, z, ceiling, l_ref)
            rss = float(((evaluate(model, theta, loss, ceiling, floor, l_ref) - z) ** 2).sum())
            n = len(z)
            scores[model] = n * math.log(max(rss, 1e-300) / n) + (len(theta) + 1) * math.log(n)
            continue
        errors: list[np.ndarray] = []
        unfittable = False  # a training fold too small (or flat) for this model: it cannot be scored
        for train, test in folds:
            if train.sum() < MIN_POINTS_PER_PARAM * len(PARAM_NAMES[model]) or np.ptp(loss[train]) <= 0:
                unfittable = True
                break
            theta = fit_model(model, loss[train], z[train], ceiling, l_ref)
            errors.append(z[test] - evaluate(model, theta, loss[test], ceiling, floor, l_ref))
        last_fold[model] = [] if unfittable else [float(e) for e in errors[-1]]
        held_out = None if unfittable else np.concatenate(errors)
        all_folds[model] = held_out
        scores[model] = math.inf if held_out is None else float(np.sqrt(np.mean(held_out ** 2)))
    test_runs = np.concatenate([runs[test] for _, test in folds]) if folds else np.array([])
    if folds:
        chosen = _pick_heldout(*_per_run_squares(all_folds, test_runs)[:2], list(models))
        rule = "the fewest parameters within one standard error (over held-out runs) of the smallest held-out MSE"
    else:
        chosen = _pick(scores)
        rule = (f"fewer than 3 runs, so no held-out run to score curves on: the smallest BIC; within {BIC_TIE:g} of it "
                "(Kass & Raftery), the fewest parameters")
    return {"chosen": chosen, "scheme": scheme, "criterion": "BIC" if not folds else "held-out RMSE", "rule": rule,
            "scores": scores, "last_fold_residuals": last_fold, "heldout_residuals": all_folds, "heldout_runs": test_runs}


def resampled_choices(selection: dict, n_boot: int, seed: int = 0) -> list[str]:
    """The model the selection would choose on each of n_boot resamples of the held-out runs.

    Which curve wins is itself an estimate from a few held-out runs: resampling those runs with
    replacement (the same unit as the bootstrap of the fits) and re-choosing by the same rule gives
    the spread of the choice, so a prediction can mix the models in those proportions instead of
    treating the chosen one as known. Without held-out folds (BIC), the choice is kept."""
    residuals = {m: r for m, r in selection.get("heldout_residuals", {}).items() if r is not None}
    test_runs = np.asarray(selection.get("heldout_runs", []))
    if not residuals or not len(test_runs):
        return [selection["chosen"]] * n_boot
    squared, counts, labels = _per_run_squares(residuals, test_runs)
    rng = np.random.default_rng(seed + 7919)
    choices = []
    for _ in range(n_boot):
        weight = np.bincount(rng.integers(0, len(labels), len(labels)), minlength=len(labels))
        choices.append(_pick_heldout(squared, counts, list(selection["scores"]), weight))
    return choices


def bootstrap_runs(model, theta, loss, z, runs, ceiling, l_ref, n_boot: int, seed: int = 0) -> np.ndarray:
    """Refits on runs resampled with replacement (rows when each row is its own run)."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(seed)
    labels = np.unique(runs)
    members = [np.flatnonzero(runs == r) for r in labels]
    grid = eta_grid(loss) if model in ("hinge", "jump") else None
    draws = []
    with threadpool_limits(1):  # many tiny fits: threads only contend on a busy machine
        for _ in range(n_boot):
            idx = np.concatenate([members[i] for i in rng.integers(0, len(labels), len(labels))])
            if np.ptp(loss[idx]) <= 0:
                draws.append(theta)
                continue
            draws.append(fit_model(model, loss[idx], z[idx], ceiling, l_ref, start=theta, grid=grid))
    return np.asarray(draws, float)


def predictive_draws(model, draws, residuals, loss_draws, ceiling, floor, l_ref, seed: int = 0,
                     growth: dict | None = None, params: float | None = None) -> np.ndarray:
    """z of a new checkpoint at each loss draw: a resampled curve plus a resampled residual, clipped.
    With `growth` the residuals are standardised and scaled by the error's sd at each draw's
    extrapolation distance in loss, and in model size when `params` is given (see extrapolation_growth)."""
    rng = np.random.default_rng(seed)
    loss_draws = np.atleast_1d(np.asarray(loss_draws, float))
    n = len(loss_draws)
    params_draws = draws[rng.integers(0, len(draws), n)]
    noise = np.asarray(residuals, float)[rng.integers(0, len(residuals), n)] if len(residuals) else np.zeros(n)
    if growth:
        noise = noise * error_sd(growth, loss_draws, params)
    z = evaluate(model, params_draws, loss_draws, ceiling, floor, l_ref, paired=True)
    return np.clip(z + noise, floor, ceiling if ceiling is not None else np.inf)


# ------------------------------------------------------------------------- extrapolation error
def extrapolation_residuals(model, loss, z, params, ceiling, floor, l_ref):
    """Held-out residuals at several extrapolation distances: for each size s with at least two sizes
    below it, fit on the sizes below s and predict every size >= s. Returns (residuals, loss distances,
    size distances, number of fits): how far a test point's loss lies below the lowest training loss (0
    if not below), and how many e-folds its size lies above the largest training size. Empty arrays
    with fewer than three sizes."""
    sizes = np.unique(params)
    resid, dist, size_dist = [], [], []
    for s in sizes[2:]:
        train, test = params < s, params >= s
        if train.sum() < MIN_POINTS_PER_PARAM * len(PARAM_NAMES[model]) or np.ptp(loss[train]) <= 0:
            continue
        theta = fit_model(model, loss[train], z[train], ceiling, l_ref)
        resid.append(z[test] - evaluate(model, theta, loss[test], ceiling, floor, l_ref))
        dist.append(np.clip(loss[train].min() - loss[test], 0.0, None))
        size_dist.append(np.log(params[test] / params[train].max()))
    if not resid:
        return np.array([]), np.array([]), np.array([]), 0
    return np.concatenate(resid), np.concatenate(dist), np.concatenate(size_dist), len(resid)


def extrapolation_growth(resid, dist, loss_min: float, size_dist=None, params_max: float | None = None) -> dict | None:
    """How the held-out error grows with extrapolation distance: var = a + b d^2 + c e^2, d the
    distance in loss below the data and e the e-folds of model size above it (an error that grows
    linearly with each distance, the first-order behaviour of a misspecified or uncertain curve; the
    size term carries what loss alone does not: a larger model at the same loss is further from the
    data, and real ladders miss more there). Fitted to the squared held-out residuals by non-negative
    least squares. Returns the growth and the residuals standardised by it, or None when the loss
    distances do not vary enough to learn b. Without size distances, or when every held-out point lies
    the same e-folds above the data, there is no c (0)."""
    from scipy.optimize import nnls

    resid, dist = np.asarray(resid, float), np.asarray(dist, float)
    if len(resid) < 10 or np.ptp(dist) <= 0 or len(np.unique(dist)) < 3:
        return None
    columns = [np.ones_like(dist), dist ** 2]
    size = None if size_dist is None or params_max is None else np.asarray(size_dist, float)
    with_size = size is not None and np.ptp(size) > 0
    if size is not None and with_size:
        columns.append(size ** 2)
    coef, _ = nnls(np.column_stack(columns), resid ** 2)
    a, b = float(coef[0]), float(coef[1])
    c = float(coef[2]) if with_size else 0.0
    if a <= 0:  # all error from distance: keep a small floor so that standardising stays finite
        a = max(1e-12, 0.01 * float(np.mean(resid ** 2)))
    growth = {"a": a, "b": b, "loss_min": float(loss_min)}
    variance = a + b * dist ** 2
    if size is not None and with_size:
        growth.update(c=c, params_max=float(params_max or 0.0))
        variance = variance + c * size ** 2
    standardised = resid / np.sqrt(variance)
    return {**growth, "standardised": np.concatenate([standardised, -standardised])}


def error_sd(growth: dict, loss, params: float | None = None) -> np.ndarray:
    """sd of the held-out error at each loss: sqrt(a + b d^2 + c e^2), d = how far the loss lies below
    the data, e = e-folds of `params` above the largest fitted size (0 when not given)."""
    d = np.clip(growth["loss_min"] - np.asarray(loss, float), 0.0, None)
    variance = growth["a"] + growth["b"] * d ** 2
    if params is not None and growth.get("c"):
        variance = variance + growth["c"] * max(0.0, math.log(float(params) / growth["params_max"])) ** 2
    return np.sqrt(variance)
