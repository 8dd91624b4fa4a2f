"""Clean resumes (issue 27): what a kill leaves behind is removed or repaired, never trusted or left to grow:
orphaned optimizer states, temporary files in subfolders, lm-eval outputs of a checkpoint whose rows never
reached the table, and a finished run's torn checkpoints.jsonl."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from contracts.atomic import clean_stale_temporaries, read_jsonl
from contracts.run_dir import read_checkpoints
from tests.conftest import run_cli, tiny_config, write_config


@pytest.fixture(scope="module")
def finished(tmp_path_factory, data_dir) -> tuple[Path, Path]:
    cfg = tiny_config(data_dir, tokens=64 * 16 * 8)
    cfg.checkpoints.every_tokens = 64 * 16 * 2
    root = tmp_path_factory.mktemp("finished")
    config = write_config(cfg, root / "run.yaml")
    run_cli("train", "--config", str(config), "--out", str(root / "run"), "--no-progress", check=True)
    return root / "run", config


def test_resume_removes_orphaned_optimizer_states_and_temporaries(finished, tmp_path):
    run, config = finished
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    steps = sorted((copy / "checkpoints").glob("step_*"))
    # A kill after the final checkpoint was renamed into place and before older states were removed:
    for older in steps[:-1]:
        shutil.copy(steps[-1] / "trainer_state.pt", older / "trainer_state.pt")
    (copy / "checkpoints" / ".step_00000099.tmp").mkdir()
    (copy / "sub").mkdir()
    (copy / "sub" / ".metrics.jsonl.123.tmp").write_text("partial")
    run_cli("train", "--config", str(config), "--out", str(copy), "--resume", "--no-progress", check=True)
    states = [d.name for d in sorted((copy / "checkpoints").glob("step_*")) if (d / "trainer_state.pt").exists()]
    assert states == [steps[-1].name]
    assert not any(".tmp" in p.name for p in copy.rglob("*"))


def test_recursive_cleanup_removes_only_our_temporaries(tmp_path):
    for rel in ("corpus/.natural.txt.1.tmp", "stages/.world.json.2.tmp", "mini_suite/.es_mini_add.jsonl.3.tmp",
                ".REPORT.md.4.tmp", "runs/r0/checkpoints/.step_00000001.tmp/model.safetensors"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    keep = ["corpus/natural.txt", "stages/world.json", "notes.tmp", "runs/r0/checkpoints.jsonl"]
    for rel in keep:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    removed = clean_stale_temporaries(tmp_path, recursive=True)
    assert len(removed) == 5
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert left == sorted(keep)


def test_a_torn_checkpoints_jsonl_is_repaired_and_said(finished, tmp_path, capfd):
    run, _ = finished
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    lines = (copy / "checkpoints.jsonl").read_text().splitlines()
    (copy / "checkpoints.jsonl").write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])  # a kill mid-line
    refs = read_checkpoints(copy)
    assert [r.checkpoint for r in refs] == [d.name for d in sorted((copy / "checkpoints").glob("step_*"))]
    assert "does not list" in capfd.readouterr().err


def test_pending_lm_eval_outputs_are_published_or_removed(tmp_path):
    from lm_eval_tasks.evaluate import PENDING, outputs_dir, settle_pending

    table = tmp_path / "eval.csv"
    root = outputs_dir(table)
    done_dir = root / PENDING / "run__step_1"
    lost_dir = root / PENDING / "run__step_2"
    for folder, task in ((done_dir, "es_a"), (lost_dir, "es_b")):
        folder.mkdir(parents=True)
        (folder / "results_2026.json").write_text(json.dumps({"configs": {task: {}}, "results": {task: {}}}))
        (folder / f"samples_{task}_2026.jsonl").write_text("{}\n")
    (root / "run__step_1").mkdir(parents=True)
    (root / "run__step_1" / "results_2025.json").write_text("{}")  # an earlier evaluation of other tasks stays
    said: list[str] = []
    settle_pending(table, {("run", "step_1", "es_a")}, said.append)  # step_1's rows reached the table, step_2's not
    assert sorted(p.name for p in (root / "run__step_1").iterdir()) == [
        "results_2025.json", "results_2026.json", "samples_es_a_2026.jsonl"]
    assert not (root / PENDING).exists() and not (root / "run__step_2").exists() and said
    assert read_jsonl(root / "run__step_1" / "samples_es_a_2026.jsonl") == [{}]
