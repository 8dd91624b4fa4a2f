"""Prediction before training: (N, D) -> loss -> each task's performance and PassUntil, with intervals.

One prediction path, on results loaded back from fit JSON (analysis/results.py): the loss law's draws
(bootstrap refits over runs, times a resampled log residual: a new run's scatter about the law) are
fed to each task's curve (refits over runs plus a checkpoint residual, clipped to [floor, ceiling]);
task laws predict through their own results class. Every interval is a prediction interval, at each
requested level; "low"/"high" are the widest level's.
"""
from __future__ import annotations

import numpy as np

from analysis.results import AnalysisError, LossCurveResults, LossLawResults

DEFAULT_LEVELS = (0.9, 0.95)


def _load(reader, d, what: str, command: str):
    """A results object from its fit JSON; an older or hand-written one is one line naming what it lacks."""
    if not isinstance(d, dict):
        raise AnalysisError(f"the fits file's {what} is a JSON {type(d).__name__}, not a fit; write it with `{command}`")
    try:
        return reader(d)
    except KeyError as err:
        raise AnalysisError(f"the fits file's {what} lacks the field {err.args[0]!r} (an older or hand-written fit?); "
                            f"write it again with `{command}`") from None
    except (TypeError, ValueError, AttributeError, IndexError) as err:
        raise AnalysisError(f"the fits file's {what} is not a fit this version reads ({type(err).__name__}: "
                            f"{str(err)[:120]}); write it again with `{command}`") from None


def _levels(levels) -> list[float]:
    levels = sorted(float(v) for v in (levels or DEFAULT_LEVELS))
    if any(not 0 < v < 1 for v in levels):
        raise AnalysisError(f"--level {levels}: give levels between 0 and 1, e.g. 0.9")
    return levels


def _summary(point, samples, levels, method: str) -> dict:
    samples = np.asarray(samples, float)
    intervals = {f"{lv:g}": [float(np.quantile(samples, (1 - lv) / 2)), float(np.quantile(samples, (1 + lv) / 2))]
                 for lv in levels}
    widest = intervals[f"{levels[-1]:g}"]
    return {"estimate": float(point), "low": widest[0], "high": widest[1], "level": levels[-1],
            "intervals": intervals, "method": method}


def _passuntil(d: dict, N: float, levels, rng, n_draws) -> dict:
    from analysis.task_law_results import predict_passuntil

    if d.get("kind") in ("task_law", "task_law_instance"):  # a results object: its own prediction interval
        out = {f"{lv:g}": predict_passuntil(d, N, alpha=1 - lv) for lv in levels}
        widest = out[f"{levels[-1]:g}"]
        return {"estimate": widest["estimate"], "low": widest["low"], "high": widest["high"], "level": levels[-1],
                "intervals": {k: [v["low"], v["high"]] for k, v in out.items()},
                "method": f"{widest['method']}: {widest['why']}"}
    from analysis.task_law import pu_of  # a fits file with the dataset-level law_spec only

    law = d["law_spec"]
    mean, cov = np.array([law["log_c"], law["alpha"]]), np.asarray(law["cov"])
    draws = rng.multivariate_normal(mean, cov, n_draws, check_valid="ignore")
    point = float(pu_of(law["log_c"] - law["alpha"] * np.log(N)))
    return _summary(point, pu_of(draws[:, 0] - draws[:, 1] * np.log(N)), levels,
                    "dataset-level task law, normal draws of (log c, alpha) (confidence of the mean PU)")


def predict(fits: dict, N: float | None = None, D: float | None = None, n_draws: int = 4000, seed: int = 0,
            levels=None, at_loss: float | None = None) -> dict:
    """Predictions at (N, D) through the loss law, or at a given loss (`at_loss`: tasks only)."""
    levels = _levels(levels)
    rng = np.random.default_rng(seed)
    out = {"params": N, "tokens": D, "levels": levels, "tasks": {}, "passuntil": {}}
    if at_loss is not None:
        loss_point, loss_samples = float(at_loss), None
        out["loss"] = {"estimate": loss_point, "low": loss_point, "high": loss_point, "level": levels[-1],
                       "intervals": {f"{lv:g}": [loss_point, loss_point] for lv in levels}, "method": "given (--at-loss)"}
    else:
        if N is None:
            raise AnalysisError("give --params N (and --tokens D for the L(N, D) law), or --at-loss L")
        _check_size(N, "--params")
        if D is not None:
            _check_size(D, "--tokens")
        if "loss_law" not in fits:
            if not (fits.get("task_laws") or fits.get("task_law_forecasts")):
                raise AnalysisError("the fits file has no loss law and no task law; run `emergent fit loss-law` or "
                                    "`emergent fit task-law` first, or give --at-loss L")
            out["loss"] = None  # PU(N) needs no loss law: PassUntil alone
            _add_passuntil(out, fits, N, levels, rng, n_draws)
            return out
        law = _load(LossLawResults.from_dict, fits["loss_law"], "loss_law", "emergent fit loss-law")
        loss_point, loss_samples = law.loss_draws(N, D, n_draws=n_draws, seed=seed)
        out["loss"] = _summary(loss_point, loss_samples, levels, "loss law: bootstrap over runs + log residual")
    for key, d in _section(fits, "loss_curves").items():
        curve = _load(LossCurveResults.from_dict, d, f"loss curve {key}", "emergent fit loss-curve")
        samples = curve.samples(loss_point, loss_samples, n_draws, seed, params=N)
        summary = _summary(curve.curve([loss_point])[0], samples, levels, curve.method(loss_samples is not None))
        out["tasks"][key] = {"metric": curve.metric, "classification": curve.classification, "model": curve.model,
                             "value": summary, "random_baseline": curve.random_baseline,
                             "heldout_error": curve.selection["scores"].get(curve.model)}
    if N is not None and at_loss is None:
        _add_passuntil(out, fits, N, levels, rng, n_draws)
    return out


def _check_size(value: float, option: str) -> None:
    if not (np.isfinite(value) and value > 0):
        raise AnalysisError(f"{option} {value:g}: give a positive finite number, e.g. {option} 1e9")


def _add_passuntil(out: dict, fits: dict, N: float, levels, rng, n_draws) -> None:
    """Each task's PU at N: its forecast (interval learnt from the ladder) where the fits file has one, else the
    task law's own interval."""
    from analysis.task_law_forecast import forecast_from_dict

    forecasts, laws = _section(fits, "task_law_forecasts"), _section(fits, "task_laws")
    for task in sorted(set(laws) | set(forecasts)):
        if task in forecasts:
            forecast = _load(forecast_from_dict, forecasts[task], f"forecast {task}", "emergent fit task-law")
            out["passuntil"][task] = forecast.predict(N, levels)
        else:
            out["passuntil"][task] = _load(lambda d: _passuntil(d, N, levels, rng, n_draws), laws[task],
                                           f"task law {task}", "emergent fit task-law")


def _section(fits: dict, key: str) -> dict:
    value = fits.get(key, {})
    if not isinstance(value, dict):
        raise AnalysisError(f"the fits file's {key} is a JSON {type(value).__name__}, not a mapping of fits; write it "
                            "with `emergent fit ...`")
    return value


def format_prediction(pred: dict, actual: dict | None = None) -> str:
    """A table of predicted values with every interval level (and, for a backtest, actual values and errors)."""
    from contracts.table import format_table

    levels = pred.get("levels") or [0.95]
    rows = [("loss", "", pred["loss"], (actual or {}).get("loss"))] if pred.get("loss") else []
    for key, t in pred["tasks"].items():
        rows.append((key, f"{t['metric']} ({t.get('model', '')})", t["value"], (actual or {}).get("tasks", {}).get(key)))
    for task, t in pred["passuntil"].items():
        rows.append((task, "PassUntil", t, (actual or {}).get("passuntil", {}).get(task)))
    head = ["quantity", "metric (curve)", "predicted"] + [f"{100 * lv:g}% prediction int." for lv in levels]
    if actual:
        head += ["actual", "abs err", "rel err", "inside"]
    at_loss = bool(pred.get("loss")) and pred["loss"].get("method") == "given (--at-loss)"
    title = ("Prediction at loss {:.4g}".format(pred["loss"]["estimate"]) if pred.get("params") is None or at_loss else
             f"Prediction for N = {pred['params']:.4g}" + (f", D = {pred['tokens']:.4g}" if pred.get("tokens") else ""))
    if at_loss and pred.get("params") is not None:
        title += f" for N = {pred['params']:.4g}"
    if not pred.get("loss"):
        title += " (PassUntil only: the fits hold no loss law)"
    cells = []
    for name, metric, p, a in rows:
        intervals = p.get("intervals") or {f"{levels[-1]:g}": [p["low"], p["high"]]}
        line = [name[:34], metric[:24], f"{p['estimate']:.4g}"] + [
            "[{:.4g}, {:.4g}]".format(*intervals.get(f"{lv:g}", [np.nan, np.nan])) for lv in levels]
        if actual:
            if a is None:
                line += ["-", "", "", ""]
            else:
                err = p["estimate"] - a
                rel = abs(err) / abs(a) if a else float("inf")
                line += [f"{a:.4g}", f"{abs(err):.3g}", f"{rel:.1%}", "yes" if p["low"] <= a <= p["high"] else "no"]
        cells.append(line)
    return title + "\n" + format_table(head, cells, align="ll" + "r" * (len(head) - 2))
