"""DIR/REPORT.md: what the study found, every number taken from the JSON and CSV files beside it
(fits.json, prediction.json, eval.csv, passuntil/*.jsonl, stages/*.json), formatted with 4 significant
digits. A pure function of those files: rebuilding it never refits a law and gives the same bytes.

It opens with the verdict (study/report_verdict.py), then one section per stage (study/report_sections.py),
the largest rung predicted against measured (study/report_compare.py), and the flags and skipped laws
(study/report_flags.py); the figures are drawn by analysis/plots.py.
"""
from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analysis.pipeline import actual_values, final_checkpoints
from analysis.task_law import record_pu
from contracts.atomic import write_text_atomic
from study import report_sections as sections
from study.report_claims import claims_json, claims_sentence, judge
from study.report_compare import Comparison, compare
from study.report_flags import collect_flags, skipped_laws
from study.report_format import fmt
from study.report_verdict import FinalLoss, emergent_tasks, verdict

__all__ = ["fmt", "write_report"]


@dataclass
class ReportInputs:
    """Everything the report reads, loaded once."""
    out: Path
    preset: str
    seed: int
    fits: dict
    prediction: dict
    eval_rows: list[dict]
    checkpoints: list[dict]
    records: list[dict]
    heldout_run: str
    heldout_params: float
    timings: dict[str, float]
    plan_text: str

    @classmethod
    def load(cls, study: Any) -> ReportInputs:
        out = Path(study.out)
        eval_rows, checkpoints, records = study.inputs()
        target = study.largest()[0]
        # Stages before this one: the report cannot hold its own time (and a rebuild must not change it).
        timings = {k: v for k, v in study.timings().items() if k != "report"}
        from trainer.ladder import plan_table

        # The ladder without this machine's time estimates (plan.txt has them): the report is a function of the seed.
        plan_text = plan_table(study.planned())
        return cls(out=out, preset=study.preset["name"], seed=int(study.seed), fits=json.loads((out / "fits.json").read_text()),
                   prediction=json.loads((out / "prediction.json").read_text()), eval_rows=eval_rows,
                   checkpoints=checkpoints, records=records, heldout_run=target.name, heldout_params=float(target.params),
                   timings=timings, plan_text=plan_text)

    def finals(self) -> list[FinalLoss]:
        return [FinalLoss(str(r.get("run")), float(r["params"]), float(r["tokens"]), float(r["val_loss"]))
                for r in final_checkpoints(self.checkpoints)]


def _intro(inputs: ReportInputs) -> list[str]:
    return [f"# Study report ({inputs.preset} preset, seed {inputs.seed})", "",
            f"Everything below was produced by `emergent study --preset {inputs.preset} --seed {inputs.seed}`; numbers "
            "come from `fits.json` (fits on all rungs but the largest), `prediction.json` (written before the largest "
            "rung was trained), `actual.json`, `eval.csv` and `passuntil/*.jsonl`. The same seed on the same machine "
            "gives this file byte for byte; the stage times, which the machine decides, are in `TIMINGS.md`.", ""]


def _task_law_figures(inputs: ReportInputs, figures: Path) -> list[str]:
    """One figure per task law: the fitted sizes, the law's band, the prediction and the held-out measurement."""
    from analysis.plots import task_law_plot

    names = []
    for task, law in (inputs.fits.get("task_laws") or {}).items():
        fitted = [r for r in inputs.records if r["task"] == task and float(r["params"]) != inputs.heldout_params]
        if not fitted or ("law_spec" not in law and "kind" not in law):
            continue
        held = [record_pu(r) for r in inputs.records if r["task"] == task and float(r["params"]) == inputs.heldout_params]
        heldout = (inputs.heldout_params, float(np.mean(held))) if held else None
        path = task_law_plot(_LoadedTaskLaw(task, law, fitted), figures / f"task_law_{task}.png", inputs.heldout_params,
                             heldout=heldout)
        names.append(path.name)
    return names


def _figures(inputs: ReportInputs, comparison: Comparison, figures: Path) -> None:
    from analysis.plots import loss_vs_compute, predicted_vs_actual
    from analysis.report_figures import loss_curve_figure

    loss_curve_figure(inputs.eval_rows, _curves_for_plot(inputs.fits), figures / "performance_vs_loss.png",
                      heldout_runs={inputs.heldout_run})
    loss = comparison.quantities[0]
    final = [r for r in inputs.checkpoints if r.get("run") == inputs.heldout_run]
    predicted = ({"flops": float(max(final, key=lambda r: float(r["step"]))["flops"]), "estimate": loss.estimate,
                  "intervals": loss.intervals} if final else None)
    loss_vs_compute(inputs.checkpoints, figures / "loss_vs_compute.png", heldout={inputs.heldout_run}, predicted=predicted)
    measured = comparison.measured()
    if measured:
        items = [(q.name, {"estimate": q.estimate, "intervals": q.intervals, "low": 0.0, "high": 0.0}, float(q.actual or 0.0))
                 for q in measured]
        predicted_vs_actual(items, figures / "predicted_vs_actual.png",
                            stderr={q.name: q.stderr for q in measured if q.stderr})


def write_report(study: Any) -> None:
    inputs = ReportInputs.load(study)
    actual = actual_values(inputs.eval_rows, inputs.checkpoints, inputs.records, inputs.heldout_params)
    write_text_atomic(inputs.out / "actual.json", json.dumps(actual, indent=2))
    comparison = compare(inputs.prediction, actual, inputs.eval_rows, inputs.records)
    flags = collect_flags(inputs.fits)
    skipped = skipped_laws(inputs.fits, inputs.out)
    emergent, others = emergent_tasks(inputs.fits, inputs.finals())
    figures = inputs.out / "figures"
    claims = judge(inputs.fits, inputs.prediction, comparison, emergent, inputs.eval_rows, inputs.records,
                   inputs.heldout_params)
    write_text_atomic(inputs.out / "claims.json", json.dumps({"seed": inputs.seed, "preset": inputs.preset,
                                                              **claims_json(claims, comparison)}, indent=2) + "\n")
    first, *rest = verdict(inputs.fits, inputs.prediction, comparison, emergent, others, flags, skipped)
    lines = [*_intro(inputs), first + " " + claims_sentence(claims), *rest,
             *sections.ladder(inputs.plan_text, inputs.heldout_run),
             *sections.loss_law(inputs.fits),
             *sections.curves(inputs.fits),
             *sections.passuntil(inputs.eval_rows, inputs.records),
             *sections.task_laws(inputs.fits, _task_law_figures(inputs, figures)),
             *sections.prediction(inputs.prediction, comparison),
             *sections.flags_and_skipped(flags, skipped)]
    _figures(inputs, comparison, figures)
    write_text_atomic(inputs.out / "TIMINGS.md", "\n".join(["# Stage times", "", "Wall time of each stage on the machine "
                                                           "that ran it (`stages/*.json`).", "",
                                                           *sections.stages(inputs.timings)[2:]]) + "\n")
    write_text_atomic(inputs.out / "REPORT.md", "\n".join(lines) + "\n")


def _curves_for_plot(fits: dict) -> dict:
    """The loss-curve results loaded back from fits.json (no refit)."""
    from analysis.results import LossCurveResults

    wanted = {"acc", "exact_match", "correct_choice_prob"}
    return {k: LossCurveResults.from_dict(v) for k, v in (fits.get("loss_curves") or {}).items() if k.split("|")[1] in wanted}


class _LoadedTaskLaw:
    """What the task-law figure draws, from the fits file and the records (no refit): mean PU per size,
    and the law's prediction through the one prediction path (analysis.predict)."""

    def __init__(self, task: str, law: dict, records: list[dict]):
        by_size = defaultdict(list)
        for rec in records:
            by_size[float(rec["params"])].append(record_pu(rec))
        sizes = np.array(sorted(by_size))
        self.table = (sizes, np.array([np.mean(by_size[n]) for n in sizes]), None)
        self.law, self.data = law, {"task": task}
        self.params = {k: v["estimate"] for k, v in law.get("params", {}).items()}
        self.level = 0.95

    def predict(self, N):
        from analysis.predict import _passuntil

        rng = np.random.default_rng(0)
        out = [_passuntil(self.law, float(n), [self.level], rng, 2000) for n in np.atleast_1d(N)]
        return _Band(*(np.array([o[k] for o in out]) for k in ("estimate", "low", "high")), level=self.level)


class _Band(tuple):
    """(estimate, low, high) arrays, unpacking like a 3-tuple, with the interval's level."""

    level: float

    def __new__(cls, estimate, low, high, level: float):
        self = super().__new__(cls, (estimate, low, high))
        self.level = level
        return self
