"""`emergent study --preset smoke`: every artifact exists and agrees with the others; a re-run reuses stages."""
from __future__ import annotations

import csv
import json

import pytest

from tests.conftest import run_cli


@pytest.fixture()
def smoke(smoke_study):
    """The session's smoke study (tests/conftest.py), shared with the README-command and dry-run tests."""
    return smoke_study


def test_artifacts_exist_and_agree(smoke):
    out, first = smoke
    for name in ("REPORT.md", "fits.json", "prediction.json", "actual.json", "eval.csv", "plan.txt", "study.json",
                 "figures/performance_vs_loss.png", "figures/loss_vs_compute.png", "figures/predicted_vs_actual.png",
                 "passuntil/es_mini_add.jsonl", "mini_suite/es_mini_facts.jsonl", "data/data.json"):
        assert (out / name).is_file(), name
    report = (out / "REPORT.md").read_text()
    prediction = json.loads((out / "prediction.json").read_text())
    actual = json.loads((out / "actual.json").read_text())
    fits = json.loads((out / "fits.json").read_text())
    assert prediction["written_before_training"] is True
    # The report's numbers are the JSON's numbers.
    loss_row = next(line for line in report.splitlines() if line.startswith("| loss |"))
    cells = [c.strip() for c in loss_row.strip("|").split("|")]
    assert cells[1] == f"{prediction['loss']['estimate']:.4g}" and cells[4] == f"{actual['loss']:.4g}"
    for name, param in fits["loss_law"]["params"].items():
        assert f"| {name} | {param['estimate']:.4g} |" in report
    # actual.json agrees with the eval table and the run's checkpoints.
    with open(out / "eval.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    largest = prediction["run"]
    final_loss = json.loads((out / "runs" / largest / "checkpoints.jsonl").read_text().splitlines()[-1])["val_loss"]
    assert actual["loss"] == final_loss
    for key, value in actual["tasks"].items():
        task, metric = key.split("|")
        assert any(r["run"] == largest and r["task"] == task and r["metric"] == metric and float(r["value"]) == value
                   for r in rows)
    # The mini-suite never leaked into the corpus, and every stage recorded its time.
    world = json.loads((out / "stages" / "world.json").read_text())
    assert set(world["leaks"].values()) == {0}
    assert "stage timings:" in first.stdout and "total" in first.stdout


def test_rerun_reuses_finished_stages(smoke):
    out, _ = smoke
    before = (out / "REPORT.md").read_text()
    again = run_cli("study", "--preset", "smoke", "--out", str(out), timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("done earlier, reused") == 11
    assert (out / "REPORT.md").read_text() == before


def test_gpu_presets_dry_run(tmp_path):
    dry = run_cli("study", "--preset", "hu2024", "--out", str(tmp_path / "hu"), "--dry-run", check=True)
    assert "0.03B" in dry.stdout and "torchrun" in dry.stdout and "passuntil run --backend vllm" in dry.stdout
    refused = run_cli("study", "--preset", "du2024", "--out", str(tmp_path / "du"))
    assert refused.returncode == 2 and "--dry-run" in refused.stderr
    assert not (tmp_path / "du").exists()


def test_report_rebuilt_from_the_json_files_alone(smoke, monkeypatch):
    """REPORT.md is a pure function of the files beside it: no refit, byte-identical."""
    import analysis.curve_family
    import analysis.loss_curve
    import analysis.pipeline
    import analysis.task_law
    from study.pipeline import Study
    from study.presets import preset
    from study.report import write_report

    out, _ = smoke
    before = (out / "REPORT.md").read_bytes()

    def no_refit(*args, **kwargs):
        raise AssertionError("the report refitted a law")

    for module, name in ((analysis.pipeline, "fit_loss_curves"), (analysis.pipeline, "fit_all"),
                         (analysis.curve_family, "fit_model"), (analysis.loss_curve.LossCurveModel, "fit"),
                         (analysis.task_law.TaskLawModel, "fit")):
        monkeypatch.setattr(module, name, no_refit)
    (out / "REPORT.md").unlink()
    write_report(Study(out, preset("smoke"), log=lambda *a: None))
    assert (out / "REPORT.md").read_bytes() == before


def test_same_seed_same_bytes(smoke, tmp_path):
    """A second study with the same seed on the same machine: fits, prediction, claims, report and figures
    byte for byte the same as the first (the stage times, which differ, live in TIMINGS.md alone)."""
    out, _ = smoke
    again = tmp_path / "again"
    second = run_cli("study", "--preset", "smoke", "--seed", "1234", "--out", str(again), timeout=900)
    assert second.returncode == 0, second.stderr[-3000:]
    names = ["fits.json", "prediction.json", "actual.json", "claims.json", "REPORT.md", "eval.csv",
             *(str(p.relative_to(out)) for p in sorted((out / "figures").glob("*.png"))),
             *(str(p.relative_to(out)) for p in sorted((out / "passuntil").glob("*.jsonl")))]
    differ = [name for name in names if (out / name).read_bytes() != (again / name).read_bytes()]
    assert not differ, differ
    assert json.loads((again / "study.json").read_text())["seed"] == 1234
    assert "seed 1234" in (again / "REPORT.md").read_text().splitlines()[0]


def test_seed_recorded_and_resume_under_another_seed_refused(smoke):
    out, _ = smoke
    assert json.loads((out / "fits.json").read_text())["study"] == {"preset": "smoke", "seed": 1234}
    assert json.loads((out / "prediction.json").read_text())["study"]["seed"] == 1234
    assert {json.loads(line)["seed"] for line in (out / "passuntil" / "es_mini_add.jsonl").read_text().splitlines()} == {1234}
    assert json.loads((out / "claims.json").read_text())["seed"] == 1234
    refused = run_cli("study", "--preset", "smoke", "--seed", "5", "--out", str(out))
    assert refused.returncode == 2 and "seed 1234" in refused.stderr and "Traceback" not in refused.stderr
