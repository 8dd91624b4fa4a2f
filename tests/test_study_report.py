"""The study report's parts on fits shaped like the study's (flags, counts inside the intervals, Spearman's
sign, emergence and skipped laws), and the smoke study's REPORT.md against the files it was built from."""
from __future__ import annotations

import csv
import json
import math
import re

import numpy as np
import pytest
from scipy import stats

from analysis.loss_curve import fit_performance_curve
from study.report_compare import compare
from study.report_flags import collect_flags, skipped_laws
from study.report_sections import value_spearman
from study.report_verdict import FinalLoss, emergent_tasks


def _codes(flags, fit):
    return sorted(f.code for f in flags if f.fit == fit)


def test_flags_computed_when_a_fit_lacks_them():
    """The issue's degenerate fits: alpha at its 2.5 bound on as many runs as parameters, a task law on 3 sizes whose
    alpha interval holds 0, a curvature test on 3 sizes for 3 parameters; old fits.json without "flags"."""
    fits = {
        "loss_law": {"law": "loss_vs_size", "names": ["L_inf", "N0", "alpha"], "data": {"n_points": 3},
                     "params": {"L_inf": {"estimate": 4.9, "ci_low": 4.8, "ci_high": 5.0},
                                "N0": {"estimate": 3.1e12, "ci_low": 1.0, "ci_high": 1e13},
                                "alpha": {"estimate": 2.5, "ci_low": 1.97, "ci_high": 2.5}}},
        "task_laws": {"add": {"kind": "task_law", "mean_pu": {"1e5": 0.01, "2e5": 0.02, "4e5": 0.05},
                              "params": {"alpha": {"estimate": 0.064, "ci_low": -0.51, "ci_high": 0.64},
                                         "c": {"estimate": 3.0, "ci_low": 1.0, "ci_high": 9.0}}}},
        "emergence": {"add": {"kind": "emergence", "F": {"1e5": 1.0, "2e5": 0.8, "4e5": 0.5},
                              "params": {"q": {"estimate": -0.1, "ci_low": -0.3, "ci_high": -0.01}}}},
    }
    flags = collect_flags(fits)
    assert _codes(flags, "loss law") == ["at_bound", "too_few_points"]
    assert _codes(flags, "task law add") == ["ci_includes_zero"]
    assert _codes(flags, "curvature add") == ["too_few_points"]  # q's interval excludes 0: no sign flag
    at_bound = next(f for f in flags if f.code == "at_bound")
    assert "alpha" in at_bound.message and "2.5" in at_bound.message


def test_given_flags_rendered_and_not_doubled():
    given = [{"code": "at_bound", "message": "alpha = 2.5 at its upper bound 2.5"},
             {"code": "bootstrap_at_bound", "message": "62% of bootstrap refits put alpha at a bound"}]
    fits = {"loss_law": {"names": ["E", "A", "alpha", "B", "beta"], "data": {"n_points": 12}, "flags": given,
                         "params": {"alpha": {"estimate": 2.5, "ci_low": 2.1, "ci_high": 2.5}}}}
    flags = collect_flags(fits)
    assert [(f.code, f.message) for f in flags] == [(g["code"], g["message"]) for g in given]


def test_skipped_laws_from_fits_and_the_stage_marker(tmp_path):
    (tmp_path / "stages").mkdir()
    (tmp_path / "stages" / "fit_predict.json").write_text(json.dumps(
        {"stage": "fit_predict", "seconds": 1.0, "skipped_fits": {"copy": "all instances censored", "facts": "older"}}))
    skipped = skipped_laws({"skipped": {"facts": "3 sizes, all at 0", "add (emergence)": "fewer than 4 sizes"}}, tmp_path)
    assert skipped == {"add (emergence)": "fewer than 4 sizes", "copy": "all instances censored", "facts": "3 sizes, all at 0"}


def _entry(estimate, i90, i95):
    return {"estimate": estimate, "low": i95[0], "high": i95[1], "level": 0.95,
            "intervals": {"0.9": list(i90), "0.95": list(i95)}, "method": "m"}


def test_counts_inside_each_level_and_misses_in_standard_errors():
    size, loss = 4e5, 3.1
    prediction = {"params": size, "tokens": 1e7, "levels": [0.9, 0.95],
                  "loss": _entry(3.0, (2.9, 3.2), (2.85, 3.25)),
                  "tasks": {"mc|acc": {"value": _entry(0.4, (0.35, 0.45), (0.33, 0.47)), "random_baseline": 0.25},
                            "mc|brier_score": {"value": _entry(0.6, (0.55, 0.65), (0.5, 0.7)), "random_baseline": 0.75}},
                  "passuntil": {"add": _entry(0.02, (0.01, 0.03), (0.005, 0.04))}}
    actual = {"loss": loss, "tasks": {"mc|acc": 0.46, "mc|brier_score": 0.8}, "passuntil": {"add": 0.035}}
    rows = [{"params": str(size), "loss": str(loss), "task": "mc", "metric": "acc", "stderr": "0.02",
             "random_baseline": "0.25", "higher_is_better": "true"},
            {"params": str(size), "loss": str(loss), "task": "mc", "metric": "brier_score", "stderr": "0.05",
             "random_baseline": "0.75", "higher_is_better": "false"}]
    records = [{"task": "add", "params": size, "pu_mle": p, "pu_unbiased": p, "passes": 1, "samples": 10, "censored": False}
               for p in (0.03, 0.04)]
    result = compare(prediction, actual, rows, records)
    inside = {q.name: (q.inside(0.9), q.inside(0.95)) for q in result.quantities}
    assert inside == {"loss": (True, True), "mc|acc": (False, True), "mc|brier_score": (False, False),
                      "add PassUntil": (False, True)}
    assert result.count_inside(0.9) == (1, 4) and result.count_inside(0.95) == (3, 4)
    acc, brier = result.quantities[1], result.quantities[2]
    assert math.isclose(acc.miss_in_stderr(0.9), 0.5) and math.isclose(brier.miss_in_stderr(0.95), 2.0)
    assert acc.clear_of_chance(*acc.intervals[0.9]) and acc.measured_above_chance()
    assert brier.clear_of_chance(*brier.intervals[0.9]) and not brier.measured_above_chance()  # 0.8 is worse than 0.75


def test_an_old_prediction_with_one_level_still_compares():
    prediction = {"params": 1.0, "loss": {"estimate": 3.0, "low": 2.8, "high": 3.2, "level": 0.95}, "tasks": {},
                  "passuntil": {}}
    result = compare(prediction, {"loss": 3.1}, [], [])
    assert result.levels == [0.95] and result.count_inside(0.95) == (1, 1)


def test_spearman_is_the_metrics_own_rank_correlation_with_loss():
    """A lower-is-better metric (Brier) that improves as loss falls: the report's rho is positive, as on the
    table's own numbers (the emergence test stores rho of the oriented z, whose sign is the opposite)."""
    rng = np.random.default_rng(0)
    loss = np.repeat(np.linspace(5.0, 3.0, 8), 3)
    params = np.repeat([1e5, 2e5, 4e5], 8)
    runs = [f"r{int(p)}" for p in params]
    brier = 0.75 - 0.2 * (5.0 - loss) / 2 + rng.normal(0, 0.01, loss.size)
    fit = fit_performance_curve(loss, brier, [0.75] * loss.size, params, runs, metric="brier_score", task="mc",
                                higher="false", n_boot=10).to_dict()
    rho = value_spearman(fit)
    assert rho is not None and rho > 0.9
    assert math.isclose(rho, stats.spearmanr(loss, brier).statistic, rel_tol=1e-9)
    assert fit["emergence"]["spearman_rho"] < 0


def test_emergent_tasks_name_their_threshold_and_the_first_rung_below_it():
    fits = {"loss_curves": {
        "add|exact_match": {"classification": "emergent",
                            "emergence": {"params": {"eta": {"estimate": 3.5, "ci_low": 3.3, "ci_high": 3.7}}}},
        "mc|acc": {"classification": "smooth", "emergence": {"params": {}}}}}
    finals = [FinalLoss("s2", 4e5, 1e6, 3.2), FinalLoss("s0", 1e5, 1e6, 4.1), FinalLoss("s1", 2e5, 1e6, 3.4)]
    emergent, others = emergent_tasks(fits, finals)
    assert [(e.key, e.eta, e.first.run if e.first else None) for e in emergent] == [("add|exact_match", 3.5, "s1")]
    assert others == ["`mc|acc` (smooth)"]


# ---------------------------------------------------------------- the smoke study's REPORT.md


def _cells(line: str) -> list[str]:
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def _table(report: str, header_start: str) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the Markdown table whose header line starts with `header_start`."""
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(_cells(line))
    return _cells(lines[start]), rows


def test_smoke_report_verdict_counts_flags_and_skipped(smoke_study):
    out, _ = smoke_study
    report = (out / "REPORT.md").read_text()
    prediction = json.loads((out / "prediction.json").read_text())
    actual = json.loads((out / "actual.json").read_text())
    fits = json.loads((out / "fits.json").read_text())
    verdict = next(line for line in report.splitlines() if line.startswith("**Verdict.**"))
    # Counts recomputed here from prediction.json and actual.json alone.
    pairs = [(prediction["loss"], actual["loss"])]
    pairs += [(t["value"], actual["tasks"].get(k)) for k, t in prediction["tasks"].items()]
    pairs += [(p, actual["passuntil"].get(k)) for k, p in prediction["passuntil"].items()]
    pairs = [(p, a) for p, a in pairs if a is not None]
    for level in ("0.9", "0.95"):
        k = sum(p["intervals"][level][0] <= a <= p["intervals"][level][1] for p, a in pairs)
        assert f"{k} of {len(pairs)} lie inside their {float(level):.0%} prediction intervals" in verdict
    assert prediction["run"] in verdict and f"{prediction['loss']['estimate']:.4g}" in verdict
    # Every skipped law is listed with its reason; every flag a fit carries is rendered.
    for key, why in fits.get("skipped", {}).items():
        assert f"| {key.replace('|', chr(92) + '|')} | {why.replace('|', chr(92) + '|')} |" in report
    for section in ("loss_curves", "task_laws", "task_laws_instance", "emergence"):
        for fit in fits.get(section, {}).values():
            for flag in fit.get("flags", []):
                assert flag["message"] in report
    assert "## Flags and skipped laws" in report


def test_smoke_report_spearman_matches_the_eval_table(smoke_study):
    out, _ = smoke_study
    report = (out / "REPORT.md").read_text()
    prediction = json.loads((out / "prediction.json").read_text())
    with open(out / "eval.csv", newline="") as fh:
        fitted = [r for r in csv.DictReader(fh) if r["run"] != prediction["run"]]
    header, rows = _table(report, "| task/metric |")
    col = header.index("spearman (value, loss)")
    checked = 0
    for row in rows:
        if row[col] == "-":
            continue
        task, metric = row[0].split("|")
        mine = [r for r in fitted if r["task"] == task and r["metric"] == metric]
        rho = stats.spearmanr([float(r["loss"]) for r in mine], [float(r["value"]) for r in mine]).statistic
        assert float(row[col]) == pytest.approx(rho, abs=6e-4), row[0]
        checked += 1
    assert checked >= 3


def test_verdict_names_the_emergent_task_its_prediction_and_the_counts():
    from study.report_compare import Comparison, Quantity
    from study.report_verdict import Emergent, verdict

    quantities = [Quantity("loss", "loss", 3.0, {0.9: (2.9, 3.1), 0.95: (2.8, 3.2)}, "m", actual=3.05),
                  Quantity("add|exact_match", "task", 0.3, {0.9: (0.2, 0.4), 0.95: (0.15, 0.45)}, "m", actual=0.5,
                           stderr=0.05, baseline=0.0, higher_is_better=True),
                  Quantity("add PassUntil", "passuntil", 0.02, {0.9: (0.01, 0.03), 0.95: (0.005, 0.04)}, "m", actual=0.025)]
    emergent = [Emergent("add|exact_match", 3.5, 3.3, 3.7, FinalLoss("s1", 2e5, 1e6, 3.4))]
    text = verdict({}, {"run": "s3", "params": 8e5, "tokens": 1e6, "written_before_training": True},
                   Comparison(quantities, [0.9, 0.95]), emergent, ["`mc|acc` (smooth)"], [], {"copy": "why"})[0]
    assert "1 of 2 task metrics tested against pre-training loss emerge" in text
    assert "`add|exact_match` below loss eta = 3.5 (95% [3.3, 3.7]), first reached at the end of training by s1" in text
    assert "`add|exact_match` predicted 0.3 (90% [0.2, 0.4]), measured 0.5 +- 0.05 (outside)" in text
    assert "`add PassUntil` predicted 0.02 (90% [0.01, 0.03]), measured 0.025 (inside)" in text
    assert "2 of 3 lie inside their 90% prediction intervals and 2 of 3 lie inside their 95%" in text
    assert "predicted for `add|exact_match`" in text and "both: `add|exact_match`" in text
    assert "0 flags on fits and 1 skipped law are listed" in text
