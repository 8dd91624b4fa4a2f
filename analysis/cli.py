"""`emergent fit loss-curve|loss-law|task-law|emergence` and `emergent predict` (composed into `emergent` by emergent/cli.py)."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from analysis.convert import convert_group  # noqa: F401 (the stage's commands, composed by emergent.cli)
from analysis.io import column, read_table, require_numbers
from analysis.results import AnalysisError, write_fits
from contracts.records import read_records


class PositiveFinite(click.ParamType):
    """A float that is positive and finite (a model size, a token count): nan, inf, 0 and negatives are refused."""
    name = "positive number"

    def convert(self, value, param, ctx):
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number; give a positive finite number, e.g. 1e9", param, ctx)
        if not (number > 0 and number != float("inf")):
            self.fail(f"{value!r}: give a positive finite number, e.g. 1e9", param, ctx)
        return number


def _rename(rows: list[dict], mapping: dict[str, str], source: str) -> list[dict]:
    """Rows with our column names, from a table whose names are given by --*-col options."""
    for theirs in mapping.values():
        column(rows, theirs, source, cast=str)  # fails clearly when a column is missing
    return [{**row, **{ours: row[theirs] for ours, theirs in mapping.items()}} for row in rows]


def _preprocessing(fn):
    """--skip-first, --smooth, --last and --where: the same on every fit and predict command."""
    for option in reversed([
        click.option("--skip-first", type=float, default=0.0, show_default=True,
                     help="Drop this fraction of each run's first checkpoints (warm-up noise)."),
        click.option("--smooth", type=int, default=1, show_default=True,
                     help="Centred moving average over K neighbouring checkpoints of a run."),
        click.option("--last", type=int, default=0, show_default=True,
                     help="Replace each run by the mean of its last K evaluations (0: keep all)."),
        click.option("--where", "wheres", multiple=True, help="Keep rows where 'column op value' (==, !=, <, <=, >, >=); "
                     "repeat to AND."),
    ]):
        fn = option(fn)
    return fn


def _read_tables(paths, drop_invalid: bool = False) -> list[dict]:
    from analysis.preprocess import expand_paths

    rows: list[dict] = []
    dropped: list[str] = []
    for path in expand_paths(paths):
        rows += read_table(path, drop_invalid=drop_invalid, dropped=dropped)
    _say_dropped(dropped)
    return rows


def _say_dropped(dropped: list[str]) -> None:
    if dropped:
        click.echo(f"warning: --drop-invalid left out {len(dropped)} invalid row(s) (first: {dropped[0]})", err=True)


_drop_invalid = click.option("--drop-invalid", is_flag=True,
                             help="Leave out eval-table rows that are damaged (each is named by file:line otherwise).")


def _prepare_eval(rows, wheres, skip_first, smooth, last) -> list[dict]:
    from analysis.preprocess import filter_rows, per_run

    return per_run(filter_rows(rows, wheres), ("loss", "value"), skip_first, smooth, last)


def _echo_fit(key, fit):
    click.echo(f"\n== {key}")
    click.echo(fit.summary())


@click.group("fit")
def fit_group():
    """Fit the laws of the study (each prints a summary and writes fit JSON)."""


@fit_group.command("loss-curve")
@click.option("--table", "tables", multiple=True, required=True, help="Eval tables (CSV); several paths or globs.")
@click.option("--metric", "metrics", multiple=True, help="Metrics to fit (default: all in the table).")
@click.option("--task-col", default="task", show_default=True, help="Column naming the task.")
@click.option("--metric-col", default="metric", show_default=True, help="Column naming the metric.")
@click.option("--loss-col", default="loss", show_default=True, help="Column of the pre-training loss.")
@click.option("--value-col", default="value", show_default=True, help="Column of the metric's value.")
@click.option("--baseline-col", default="random_baseline", show_default=True, help="Column of the metric's random baseline.")
@click.option("--params-col", default="params", show_default=True, help="Column of the model size N.")
@click.option("--tokens-col", default="tokens", show_default=True, help="Column of the training tokens D.")
@click.option("--model", default="auto", show_default=True,
              type=click.Choice(["auto", "sigmoid", "hinge", "jump", "line", "exponential"]),
              help="Curve used for prediction; auto: by held-out error across runs among sigmoid, hinge, jump and "
                   "line, the simplest within one standard error of the best (exponential: Gadre et al.'s "
                   "error = e - k exp(-gamma L), a baseline).")
@click.option("--bootstrap", default=200, show_default=True, type=click.IntRange(min=0),
              help="Refits over runs resampled with replacement.")
@click.option("--margin", default=1.0, show_default=True, type=PositiveFinite(),
              help="Collapse test: the size effect across the ladder that matters, in points (0.01 of the metric).")
@_preprocessing
@_drop_invalid
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Fit JSON to write (atomically).")
@click.option("--plot", type=click.Path(file_okay=False), help="Directory for PNG figures.")
def loss_curve_command(tables, metrics, task_col, metric_col, loss_col, value_col, baseline_col, params_col, tokens_col,
                       model, bootstrap, margin, skip_first, smooth, last, wheres, drop_invalid, out, plot):
    """Performance vs loss per task: the prediction curve (chosen by held-out error), the emergence test
    (separate), the collapse test clustered by run."""
    from analysis.pipeline import fit_loss_curves, to_fits_json

    rows = _read_tables(tables, drop_invalid)
    if rows and baseline_col not in rows[0]:
        rows = [{**r, baseline_col: ""} for r in rows]
    rows = _rename(rows, {"task": task_col, "metric": metric_col, "loss": loss_col, "value": value_col,
                          "random_baseline": baseline_col, "params": params_col, "tokens": tokens_col}, ", ".join(tables))
    require_numbers(rows, ("loss", "value", "params", "tokens"), ", ".join(tables))
    rows = _prepare_eval(rows, wheres, skip_first, smooth, last)
    fits = fit_loss_curves(rows, list(metrics) or None, model=model, n_boot=bootstrap, margin=margin / 100)
    for key, fit in fits["loss_curves"].items():
        _echo_fit(key, fit)
        if key in fits["collapse"]:
            c = fits["collapse"][key]
            lo, hi = c.extra["N_effect_per_efold_interval"]
            slo, shi = c.extra["size_effect_over_span_interval_90"]
            click.echo(f"collapse test (clustered by {c.data['n_runs']} runs): p = {c.gof['p_value']:.3g}, N effect "
                       f"{c.extra['N_effect_per_efold']:.3g} [{lo:.3g}, {hi:.3g}] per e-fold of N "
                       f"({'collapses onto loss' if c.extra['collapses_onto_loss'] else 'size/tokens matter beyond loss'}); "
                       f"across the ladder's {c.extra['log_size_span']:.2f} e-folds of N size adds "
                       f"{100 * c.extra['size_effect_over_span']:.3g} points, 90% [{100 * slo:.3g}, {100 * shi:.3g}] "
                       f"-> {c.extra['equivalence']} (margin {margin:g} points)")
    for key, why in fits["skipped"].items():
        click.echo(f"skipped {key}: {why}")
    write_fits(out, to_fits_json({"loss_curves": fits["loss_curves"], "collapse": fits["collapse"]}))
    if plot:
        from analysis.report_figures import loss_curve_figure

        click.echo(f"figure: {loss_curve_figure(rows, fits['loss_curves'], Path(plot) / 'performance_vs_loss.png')}")


@fit_group.command("loss-law")
@click.option("--table", "tables", multiple=True, required=True,
              help="Run directories, checkpoints.jsonl, or any CSV; several paths or globs.")
@click.option("--params-col", default="params", show_default=True, help="Column of the model size N.")
@click.option("--tokens-col", default="tokens", show_default=True, help="Column of the training tokens D.")
@click.option("--loss-col", default=None,
              help="Loss column [default: val_loss where the table has it (checkpoints.jsonl), else loss (an eval table)].")
@click.option("--run-col", default="run", show_default=True, help="Groups rows into runs (the last row of each is used).")
@click.option("--step-col", default="step", show_default=True, help="Column of the checkpoint step (orders a run's rows).")
@click.option("--fixed-d", is_flag=True, help="Fit L(N) = L_inf + (N0/N)^alpha at one data budget.")
@click.option("--eta", type=float, help="With --fixed-d: the size N* at which the loss reaches eta.")
@click.option("--eta-interval", nargs=2, type=float, metavar="LOW HIGH",
              help="With --eta: eta's 95% interval (e.g. a loss curve's threshold interval); N*'s interval carries it.")
@click.option("--bootstrap", default=200, show_default=True, type=click.IntRange(min=0),
              help="Refits over runs resampled with replacement (0: no intervals).")
@_preprocessing
@_drop_invalid
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Fit JSON to write (atomically).")
@click.option("--plot", type=click.Path(file_okay=False), help="Directory for PNG figures.")
def loss_law_command(tables, params_col, tokens_col, loss_col, run_col, step_col, fixed_d, eta, eta_interval, bootstrap,
                     skip_first, smooth, last, wheres, drop_invalid, out, plot):
    """L(N, D) = E + A/N^alpha + B/D^beta (Huber in log space, bootstrap intervals), or L(N)."""
    from analysis.loss_law import LossVsSizeModel
    from analysis.pipeline import final_checkpoints, fit_loss_law
    from analysis.preprocess import expand_paths, filter_rows, per_run
    from analysis.results import LossLawResults

    rows = []
    dropped: list[str] = []
    for table in expand_paths(tables):
        raw = read_table(table, drop_invalid=drop_invalid, dropped=dropped)
        if raw and run_col not in raw[0]:
            raw = [{**r, run_col: f"{table}#{i}"} for i, r in enumerate(raw)]  # one row = one run
        if raw and step_col not in raw[0]:
            raw = [{**r, step_col: 0} for r in raw]
        column = loss_col or ("loss" if raw and "val_loss" not in raw[0] and "loss" in raw[0] else "val_loss")
        renamed = _rename(raw, {"params": params_col, "tokens": tokens_col, "val_loss": column, "run": run_col,
                                "step": step_col}, table)
        require_numbers(renamed, ("params", "tokens", "val_loss", "step"), table)
        rows += renamed
    _say_dropped(dropped)
    rows = per_run(filter_rows(rows, wheres), ("val_loss",), skip_first, smooth, last, keys=("run",))
    # Eval tables repeat a checkpoint's loss on every task's row: one row per (run, step) is enough.
    rows = list({(r["run"], str(r["step"])): r for r in rows}.values())
    if fixed_d:
        finals = final_checkpoints(rows)
        raw_fit = LossVsSizeModel([float(r["params"]) for r in finals], [float(r["val_loss"]) for r in finals],
                                  n_boot=bootstrap, tokens=[float(r["tokens"]) for r in finals]).fit()
        if eta is not None:
            n_star, low, high = raw_fit.size_threshold(eta, _eta_draws(eta, eta_interval))
            raw_fit.extra["size_threshold"] = {"eta": eta, "N_star": n_star, "ci_low": low, "ci_high": high,
                                               "eta_interval": list(eta_interval) if eta_interval else None}
        fit = LossLawResults.from_fit(raw_fit)
    else:
        fit = fit_loss_law(rows, n_boot=bootstrap)
    _echo_fit(fit.law, fit)
    if fixed_d and eta is not None:
        s = raw_fit.extra["size_threshold"]  # before serialisation (which writes an infinite N* as null)
        click.echo(f"size threshold for loss {s['eta']}: N* = {s['N_star']:.4g} [{s['ci_low']:.4g}, {s['ci_high']:.4g}]")
    write_fits(out, {"loss_law": fit.to_dict()})
    if plot:
        from analysis.plots import loss_vs_compute

        plot_rows = [{**r, "flops": 6 * float(r["params"]) * float(r["tokens"])} for r in rows]
        click.echo(f"figure: {loss_vs_compute(plot_rows, Path(plot) / 'loss_vs_compute.png', fit)}")


def _eta_draws(eta, interval):
    from analysis.loss_law import eta_draws_from_interval
    from analysis.results import AnalysisError

    if not interval:
        return None
    low, high = interval
    if not low <= eta <= high:
        raise AnalysisError(f"--eta-interval {low:g} {high:g} does not contain --eta {eta:g}")
    return eta_draws_from_interval(eta, low, high, 4000)


def _records(paths) -> list[dict]:
    from analysis.preprocess import expand_paths

    found = read_records(expand_paths(paths), need_params=True)  # a record that breaks the contract stops here, by file:line
    if not found.records:
        raise AnalysisError("the PassUntil files hold no records")
    if found.dropped:
        click.echo(f"PassUntil files: {found.report()}", err=True)
    return found.records


@fit_group.command("task-law")
@click.option("--records", "paths", multiple=True, required=True, help="PassUntil JSONL files (several models).")
@click.option("--method", default="instance", type=click.Choice(["instance", "wls", "glm"]), show_default=True,
              help="instance: per-instance likelihood with shrunk exponents (holds for heterogeneous and censored "
                   "instances); wls: least squares on the mean PU; glm: pooled, refused when instances differ.")
@click.option("--task", "only", multiple=True, help="Fit only this task (repeatable); default: every task in the files.")
@click.option("--target", type=PositiveFinite(), help="Model size N to predict PU at (recorded in the fit JSON).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Fit JSON to write (atomically).")
@click.option("--plot", type=click.Path(file_okay=False), help="Directory for PNG figures.")
def task_law_command(paths, method, only, target, out, plot):
    """PU(N) = exp(-c N^-alpha): dataset level and instance level (IPU), and each task's forecast (its interval
    learnt from the ladder by forward chaining inside the fitted sizes)."""
    from analysis.task_law import InstanceTaskLawModel, TaskLawModel
    from analysis.task_law_forecast import fit_forecasts

    records = _records(paths)
    tasks = sorted({r["task"] for r in records})
    missing = sorted(set(only) - set(tasks))
    if missing:
        raise AnalysisError(f"--task {', '.join(missing)}: not in the PassUntil files (they hold {', '.join(tasks)})")
    tasks = [t for t in tasks if not only or t in only]
    laws, instance_laws, skipped = {}, {}, {}
    for task in tasks:
        recs = [r for r in records if r["task"] == task]
        try:
            laws[task] = TaskLawModel(recs, task=task, method=method).fit()
        except AnalysisError as err:
            # One task that never passes must not cost the others their fits; it is named, and recorded in the output.
            if len(tasks) == 1:
                raise
            skipped[task] = str(err)
            click.echo(f"warning: task {task} skipped: {err}", err=True)
            continue
        _echo_fit(task, laws[task])
        try:
            instance_laws[task] = InstanceTaskLawModel(recs, task=task).fit()
        except AnalysisError as err:
            click.echo(f"instance level skipped: {err}")
        if target:
            p = laws[task].predict(target).as_dict()
            click.echo(f"the law's own interval, PU at N = {target:.4g}: {p['estimate']:.4g} [{p['low']:.4g}, "
                       f"{p['high']:.4g}] ({p['level']:g} {p['interval']}; sampling and parameter noise only)")
        if plot:
            from analysis.plots import task_law_plot

            name = "task_law_" + task.replace("/", "_") + ".png"
            click.echo(f"figure: {task_law_plot(laws[task], Path(plot) / name, target)}")
    if not laws:
        raise AnalysisError(f"no task law could be fitted: {'; '.join(f'{t}: {e}' for t, e in skipped.items())}")
    forecasts, not_forecast = fit_forecasts([r for r in records if r["task"] in laws])
    targets = {}
    for task, forecast in forecasts.items():
        click.echo(f"\n{forecast.summary()}")
        if target:
            targets[task] = forecast.predict(target)
            click.echo(_forecast_line(target, targets[task]))
    for task, why in not_forecast.items():
        click.echo(f"no forecast for {task}: {why}", err=True)
    write_fits(out, {"task_laws": {t: f.to_dict() for t, f in laws.items()},
                     "task_laws_instance": {t: f.to_dict() for t, f in instance_laws.items()},
                     "task_law_forecasts": {t: f.to_dict() for t, f in forecasts.items()},
                     **({"target": {"params": target, "passuntil": targets}} if target else {}),
                     "skipped": {**skipped, **{f"{t} (forecast)": why for t, why in not_forecast.items()}}})


def _forecast_line(target: float, p: dict) -> str:
    i90, i95 = p["intervals"]["0.9"], p["intervals"]["0.95"]
    return (f"PU at N = {target:.4g}: {p['estimate']:.4g}, 90% [{i90[0]:.4g}, {i90[1]:.4g}], 95% [{i95[0]:.4g}, "
            f"{i95[1]:.4g}] ({p['d_efolds']:.2f} e-folds beyond the largest fitted size)")


@click.group("backtest")
def backtest_group():
    """Forward-chained backtests: predict each size from the smaller ones and compare with what was measured."""


@backtest_group.command("task-law")
@click.option("--records", "paths", multiple=True, required=True,
              help="PassUntil JSONL files, globs or folders (one ladder per task; per file where files repeat a size).")
@click.option("--min-smaller", default=3, show_default=True, type=click.IntRange(min=3),
              help="Predict only sizes with at least this many smaller ones.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write every step and the summary as JSON.")
def backtest_task_law_command(paths, min_smaller, out):
    """The task-law forecast, forward-chained over sizes: predicted vs actual, ratio, coverage at 90% and 95%,
    median interval width, and Hu et al.'s dataset-level line on the same steps."""
    from analysis.task_law_backtest import backtest, format_backtest

    files = [(path, _records([path])) for path in _record_files(paths)]
    with _progress("forward-chained steps") as bar:
        result = backtest(files, min_smaller=min_smaller, progress=bar)
    click.echo(format_backtest(result))
    if out:
        write_fits(out, result)


def _record_files(paths) -> list[str]:
    """Files from paths, globs and folders (a folder: its *.jsonl and *.jsonl.gz)."""
    from analysis.preprocess import expand_paths

    files = []
    for path in expand_paths(paths):
        if Path(path).is_dir():
            found = sorted(str(p) for p in Path(path).iterdir() if p.name.endswith((".jsonl", ".jsonl.gz")))
            if not found:
                raise AnalysisError(f"folder {path} holds no PassUntil files (*.jsonl, *.jsonl.gz)")
            files += found
        else:
            files.append(path)
    return files


class _progress:
    """A progress bar on stderr for steps counted as (done, total)."""

    def __init__(self, label: str):
        self.label = label
        self.bar: Any = None

    def __enter__(self):
        return self

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.bar.pos)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False


@fit_group.command("emergence")
@click.option("--records", "paths", multiple=True, required=True, help="PassUntil JSONL files (several models).")
@click.option("--bootstrap", default=1000, show_default=True, type=click.IntRange(min=1),
              help="Resamples of the instances for the curvature's interval.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Fit JSON to write (atomically).")
def emergence_command(paths, bootstrap, out):
    """Curvature of log(-log PU) against log N; multi-step vs multiple circuits."""
    from analysis.emergence import EmergenceModel

    records = _records(paths)
    fits = {}
    for task in sorted({r["task"] for r in records}):
        fits[task] = EmergenceModel([r for r in records if r["task"] == task], task=task, n_boot=bootstrap).fit()
        _echo_fit(task, fits[task])
        click.echo(f"shape: {fits[task].extra['shape']} ({fits[task].extra['meaning']}); "
                   f"mechanism: {fits[task].extra['preferred_by_bic']}")
    write_fits(out, {"emergence": {t: f.to_dict() for t, f in fits.items()}})


def _merge_fits(paths) -> dict:
    merged: dict = {}
    for path in paths:
        if not Path(path).is_file():
            raise AnalysisError(f"fits file {path} does not exist")
        try:
            loaded = json.loads(Path(path).read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise AnalysisError(f"fits file {path} is not valid JSON ({err}); write it with `emergent fit ...`") from None
        if not isinstance(loaded, dict):
            raise AnalysisError(f"fits file {path} holds a JSON {type(loaded).__name__}, not fits; write it with "
                                "`emergent fit ...`")
        for key, value in loaded.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict) and "law" not in value:
                merged[key].update(value)
            else:
                merged[key] = value
    return merged


@click.command("predict")
@click.option("--fits", "fit_paths", multiple=True, help="Fit JSON files (from `emergent fit ...`); paths or globs.")
@click.option("--params", "n", type=PositiveFinite(), help="Model size N to predict.")
@click.option("--tokens", "d", type=PositiveFinite(), help="Training tokens D.")
@click.option("--at-loss", type=float, help="Predict each task at this loss (no loss law needed).")
@click.option("--level", "levels", type=float, multiple=True, help="Prediction-interval level(s) [default: 0.9 and 0.95].")
@click.option("--holdout", type=click.Choice(["largest"]), help="Backtest: fit without the largest rung, predict it.")
@click.option("--table", "tables", multiple=True, help="With --holdout: eval tables (paths or globs).")
@click.option("--runs", multiple=True, help="With --holdout: run directories (checkpoints.jsonl); paths or globs.")
@click.option("--records", "pu_paths", multiple=True, help="With --holdout: PassUntil JSONL files; paths or globs.")
@_preprocessing
@click.option("--out", type=click.Path(dir_okay=False), help="Write the prediction as JSON.")
def predict_command(fit_paths, n, d, at_loss, levels, holdout, tables, runs, pu_paths, skip_first, smooth, last, wheres, out):
    """(N, D) -> loss -> task performance and PassUntil, with prediction intervals (or a task at --at-loss)."""
    from analysis.predict import format_prediction, predict
    from analysis.preprocess import expand_paths

    if holdout:
        from analysis.pipeline import holdout_largest  # the fits' imports (statsmodels): only when fitting

        if not runs:
            raise AnalysisError("--holdout largest needs --runs (and usually --table and --records)")
        checkpoints = _read_tables(runs)
        eval_rows = _prepare_eval(_read_tables(tables), wheres, skip_first, smooth, last) if tables else []
        records = _records(pu_paths) if pu_paths else []
        prediction, actual, _ = holdout_largest(eval_rows, checkpoints, records, levels=levels)
        click.echo(format_prediction(prediction, actual))
        result = {"prediction": prediction, "actual": actual}
    else:
        if not fit_paths or (n is None and at_loss is None):
            raise AnalysisError("give --fits FILE(s) and --params N (and --tokens D for the L(N, D) law), "
                                "or --at-loss L, or --holdout largest")
        prediction = predict(_merge_fits(expand_paths(fit_paths)), n, d, levels=levels, at_loss=at_loss)
        click.echo(format_prediction(prediction))
        result = {"prediction": prediction}
    if out:
        write_fits(out, result)

