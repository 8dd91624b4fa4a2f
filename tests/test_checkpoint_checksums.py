"""Damaged data that keeps its shape is not trusted (issue 27): every checkpoint records the SHA-256 of its files
(in checkpoint.json and its checkpoints.jsonl row) before it is published; resume verifies every hash, eval and
passuntil the sizes (and the hash of a file whose mtime moved). A flipped bit or 64 overwritten bytes are refused
with one line naming the file; resume falls back to the newest checkpoint that verifies, and says so."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from contracts.atomic import read_jsonl
from contracts.errors import RunDirError
from contracts.run_dir import check_weights, checksum_problem
from tests.conftest import run_cli, tiny_config, write_config


@pytest.fixture(scope="module")
def run(tmp_path_factory, data_dir) -> Path:
    cfg = tiny_config(data_dir, tokens=64 * 16 * 12)
    cfg.checkpoints.every_tokens = 64 * 16 * 4
    cfg.checkpoints.keep_trainer_state = "all"  # so that an older checkpoint can be resumed from
    config = write_config(cfg, tmp_path_factory.mktemp("cfg") / "run.yaml")
    out = tmp_path_factory.mktemp("ck") / "run"
    run_cli("train", "--config", str(config), "--out", str(out), "--no-progress", check=True)
    (out.parent / "run.yaml").write_text(config.read_text())  # beside it, for the resume below
    return out


def _copy(run: Path, tmp_path: Path) -> Path:
    import shutil

    dest = tmp_path / "run"
    shutil.copytree(run, dest)
    return dest


def _flip(path: Path, offset_from_end: int = 100, count: int = 1) -> None:
    data = bytearray(path.read_bytes())
    for k in range(count):
        data[-offset_from_end - k] ^= 0x01
    path.write_bytes(bytes(data))


def test_digests_are_recorded_before_publishing(run):
    rows = read_jsonl(run / "checkpoints.jsonl")
    assert rows and all("model.safetensors" in r["files"] and len(r["files"]["model.safetensors"]["sha256"]) == 64
                        for r in rows)
    final = run / rows[-1]["path"] if not Path(rows[-1]["path"]).is_absolute() else Path(rows[-1]["path"])
    record = json.loads((final / "checkpoint.json").read_text())
    assert record["files"] == rows[-1]["files"] and "trainer_state.pt" in record["files"]
    assert checksum_problem(final, full=True) is None


def test_a_flipped_bit_is_refused_by_eval_and_passuntil(run, tmp_path):
    copy = _copy(run, tmp_path)
    final = sorted((copy / "checkpoints").glob("step_*"))[-1]
    _flip(final / "model.safetensors")  # size unchanged; the tensor data holds one flipped bit
    with pytest.raises(RunDirError, match="model.safetensors does not match its recorded SHA-256"):
        check_weights(final)
    res = run_cli("passuntil", "run", "--model", str(final), "--task", "custom", "--data", str(_task(tmp_path)),
                  "--out", str(tmp_path / "pu.jsonl"), "--no-progress")
    assert res.returncode == 2 and "does not match its recorded SHA-256" in res.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "pu.jsonl").exists()


def test_verify_hashes_a_file_whose_mtime_was_kept(run, tmp_path):
    """A flipped bit with the recorded mtime put back passes the fast check (sizes, hashes where mtimes moved);
    --verify hashes every file and refuses it, in eval and passuntil alike, before any model loads."""
    copy = _copy(run, tmp_path)
    final = sorted((copy / "checkpoints").glob("step_*"))[-1]
    weights = final / "model.safetensors"
    recorded = json.loads((final / "checkpoint.json").read_text())["files"]["model.safetensors"]["mtime_ns"]
    _flip(weights)
    os.utime(weights, ns=(recorded, recorded))
    check_weights(final)  # the fast check cannot see it
    with pytest.raises(RunDirError, match="does not match its recorded SHA-256"):
        check_weights(final, full=True)
    res = run_cli("eval", str(final), "--tasks", "es_mini_add", "--table", str(tmp_path / "eval.csv"), "--verify")
    assert res.returncode == 2 and "does not match its recorded SHA-256" in res.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "eval.csv").exists()
    res = run_cli("passuntil", "run", "--model", str(final), "--task", "custom", "--data", str(_task(tmp_path)),
                  "--out", str(tmp_path / "pu.jsonl"), "--no-progress", "--verify")
    assert res.returncode == 2 and "does not match its recorded SHA-256" in res.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "pu.jsonl").exists()


def test_resume_refuses_a_damaged_checkpoint_and_falls_back(run, tmp_path):
    copy = _copy(run, tmp_path)
    steps = sorted((copy / "checkpoints").glob("step_*"))
    _flip(steps[-1] / "model.safetensors", offset_from_end=400, count=64)  # 64 bytes of tensor data, same size
    res = run_cli("train", "--config", str(run.parent / "run.yaml"), "--out", str(copy), "--resume", "--no-progress")
    assert res.returncode == 0, res.stderr[-2000:]
    warning = [line for line in res.stderr.splitlines() if line.startswith("warning:")]
    assert warning and "model.safetensors does not match its recorded SHA-256" in warning[0]
    assert f"resuming from the newest complete checkpoint, {steps[-2].name}" in warning[0]
    assert checksum_problem(sorted((copy / "checkpoints").glob("step_*"))[-1], full=True) is None


def _task(tmp_path: Path) -> Path:
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps({"id": "a", "prompt": "Say the phrase:", "answer": "the quick brown fox jumps over"}) + "\n")
    return path
