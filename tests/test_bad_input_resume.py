"""Damaged state has a way out: on --resume a checkpoint that fails to load is named and the newest
complete one is used (or the exact command is printed); stale temporaries of killed writes are removed."""
from __future__ import annotations

import shutil

import pytest

from tests.conftest import run_cli, tiny_config, write_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir):
    """A finished tiny run that keeps the trainer state in every checkpoint (so an older one can take over)."""
    root = tmp_path_factory.mktemp("resume")
    cfg = tiny_config(data_dir, tokens=64 * 16 * 8)
    cfg.checkpoints.keep_trainer_state = "all"
    config = write_config(cfg, root / "run.yaml")
    run_cli("train", "--config", str(config), "--out", str(root / "run"), "--no-progress", check=True)
    steps = sorted((root / "run" / "checkpoints").glob("step_*"))
    assert len(steps) >= 2
    return config, root / "run", steps


@pytest.mark.slow
def test_damaged_newest_checkpoint_is_named_and_the_previous_one_used(trained, tmp_path):
    config, run, steps = trained
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    newest = copy / "checkpoints" / steps[-1].name
    (newest / "trainer_state.pt").write_bytes((newest / "trainer_state.pt").read_bytes()[:100])  # torn by a kill
    stale = [copy / ".config.yaml.x1.tmp", copy / "checkpoints" / ".step_00000099.tmp"]
    stale[0].write_text("half")
    stale[1].mkdir()
    result = run_cli("train", "--config", str(config), "--out", str(copy), "--resume", "--no-progress")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    warning = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert warning and f"{newest}/trainer_state.pt is damaged" in warning[0], result.stderr[-2000:]
    assert f"resuming from the newest complete checkpoint, {steps[-2].name}" in warning[0]
    assert not any(p.exists() for p in stale)
    assert (newest / "trainer_state.pt").stat().st_size > 100  # retrained and saved whole again


@pytest.mark.slow
def test_no_complete_checkpoint_left_prints_the_command(trained, tmp_path):
    config, run, steps = trained
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    for step in steps:
        weights = copy / "checkpoints" / step.name / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:-10])
    result = run_cli("train", "--config", str(config), "--out", str(copy), "--resume", "--no-progress")
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "model.safetensors is damaged" in lines[0] and f"mv {copy / 'checkpoints' / steps[-1].name}" in lines[0]
