"""A SIGKILL at each moment a crash can leave partial state (contracts/crash_points.py), through the real
commands, then the same command again: the result equals the uninterrupted run's, with no orphaned optimizer
state, no temporary file, no duplicate checkpoint line, table row, lm-eval output or PassUntil record."""
from __future__ import annotations

import csv
import json
import signal
from pathlib import Path

import pytest
from safetensors.torch import load_file

from tests.conftest import run_cli, tiny_config, write_config

KILLED = -signal.SIGKILL


def _leftovers(root: Path) -> list[str]:
    """Temporary files and folders of the project's naming (.NAME.*.tmp, .step_*.tmp) and pending lm-eval outputs."""
    found = [str(p.relative_to(root)) for p in root.rglob("*") if p.name.endswith(".tmp") or ".tmp" in p.name]
    found += [str(p.relative_to(root)) for p in root.rglob(".pending") if any(p.iterdir())]
    return sorted(found)


def _train_args(config: Path, out: Path, *extra: str) -> tuple[str, ...]:
    return ("train", "--config", str(config), "--out", str(out), "--no-progress", *extra)


@pytest.fixture(scope="module")
def ladder(tmp_path_factory, data_dir):
    """One config with checkpoints at steps 2, 4, 6 and 8, and its uninterrupted run."""
    root = tmp_path_factory.mktemp("crash")
    cfg = tiny_config(data_dir, tokens=64 * 16 * 8)
    cfg.checkpoints.log_spaced, cfg.checkpoints.every_tokens = 0, 64 * 16 * 2
    config = write_config(cfg, root / "run.yaml")
    run_cli(*_train_args(config, root / "whole"), check=True)
    return config, root / "whole"


@pytest.mark.parametrize("point", ["checkpoint:before-rename", "checkpoint:before-jsonl", "checkpoint:before-prune"])
def test_train_killed_while_saving_resumes_to_the_same_run(ladder, tmp_path, point):
    config, whole = ladder
    run = tmp_path / "run"
    killed = run_cli(*_train_args(config, run), env={"EMERGENT_CRASH_AT": f"{point}:2"})  # while saving step 4
    assert killed.returncode == KILLED, killed.stderr[-2000:]
    run_cli(*_train_args(config, run, "--resume"), check=True)
    steps = [json.loads(line)["step"] for line in (run / "checkpoints.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6, 8]
    assert sorted(p.parent.name for p in run.rglob("trainer_state.pt")) == ["step_00000008"]
    assert _leftovers(run) == []
    ours, theirs = (load_file(str(r / "checkpoints" / "step_00000008" / "model.safetensors")) for r in (run, whole))
    assert all((ours[k] == theirs[k]).all() for k in theirs)
    metric_steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert metric_steps == [json.loads(line)["step"] for line in (whole / "metrics.jsonl").read_text().splitlines()]


def _table(path: Path) -> list[tuple]:
    with open(path, newline="") as fh:
        return sorted((r["checkpoint"], r["task"], r["metric"], r["value"]) for r in csv.DictReader(fh))


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mini")
    (folder / "es_mini_add.jsonl").write_text("".join(json.dumps(
        {"id": f"a{i}", "prompt": f"{i} + 1 =", "answer": str(i + 1), "stop": ["\n"], "max_new_tokens": 4}) + "\n"
        for i in range(6)))
    return {"EMERGENT_MINI_DATA": str(folder), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


@pytest.mark.parametrize("point", ["eval:before-append", "eval:before-publish"])
def test_eval_killed_between_outputs_and_table_leaves_one_set(ladder, mini, tmp_path, point):
    _, whole = ladder
    args = lambda table: ("eval", str(whole), "--tasks", "es_mini_add", "--table", str(table), "--batch-size", "4")  # noqa: E731
    run_cli(*args(tmp_path / "once" / "eval.csv"), env=mini, check=True)
    table = tmp_path / "killed" / "eval.csv"
    killed = run_cli(*args(table), env={**mini, "EMERGENT_CRASH_AT": f"{point}:2"})  # at the second checkpoint
    assert killed.returncode == KILLED, killed.stderr[-2000:]
    run_cli(*args(table), env=mini, check=True)
    assert _table(table) == _table(tmp_path / "once" / "eval.csv")
    outputs = table.parent / "eval_lm_eval"
    folders = sorted(p for p in outputs.iterdir() if p.is_dir() and p.name != ".pending")
    assert len(folders) == 4 and all(len(list(f.glob("results_*.json"))) == 1 for f in folders)
    assert _leftovers(table.parent) == []


def test_passuntil_killed_after_a_record_samples_each_instance_once(ladder, tmp_path):
    _, whole = ladder
    task = tmp_path / "t.jsonl"
    task.write_text("".join(json.dumps({"id": f"i{i}", "prompt": "Say:", "answer": "zz"}) + "\n" for i in range(12)))
    args = lambda out: ("passuntil", "run", "--model", str(whole / "checkpoints" / "step_00000008"), "--task",  # noqa: E731
                        "custom", "--data", str(task), "--out", str(out), "--max-samples", "8", "--r", "1",
                        "--chunk-size", "4", "--batch-size", "8", "--no-progress")
    run_cli(*args(tmp_path / "once.jsonl"), check=True)
    out = tmp_path / "killed.jsonl"
    killed = run_cli(*args(out), env={"EMERGENT_CRASH_AT": "passuntil:after-record:3"})
    assert killed.returncode == KILLED, killed.stderr[-2000:]
    assert len(out.read_text().splitlines()) == 3
    run_cli(*args(out), check=True)
    key = lambda path: sorted((r["instance_id"], r["samples"], r["passes"])  # noqa: E731
                              for r in map(json.loads, path.read_text().splitlines()))
    assert key(out) == key(tmp_path / "once.jsonl") and len(key(out)) == 12
    assert _leftovers(tmp_path) == []
