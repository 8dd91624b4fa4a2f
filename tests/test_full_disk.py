"""A full disk is one line in every writer, and nothing half-written is published (issue 27). The test mounts a
small tmpfs (it runs as root in CI); elsewhere it injects ENOSPC into the same writers."""
from __future__ import annotations

import errno
import json
import os
import subprocess
from pathlib import Path

import pytest

from contracts.atomic import JsonlAppender, write_text_atomic
from contracts.eval_table import append_eval_rows
from tests.conftest import run_cli, tiny_config, write_config


@pytest.fixture
def small_fs(tmp_path):
    """A 3 MiB filesystem, nearly full once `fill` is called."""
    where = tmp_path / "small"
    where.mkdir()
    if os.getuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(where)]).returncode:
        pytest.skip("mounting a small filesystem needs root (CI has it); the writers are also covered by injection")
    yield where
    subprocess.run(["umount", "-l", str(where)])


def _fill(where: Path, leave: int) -> None:
    free = os.statvfs(where).f_bavail * os.statvfs(where).f_frsize
    (where / "filler").write_bytes(b"\0" * max(0, free - leave))


def _temporaries(where: Path) -> list[Path]:
    return [p for p in where.rglob("*") if ".tmp" in p.name]


def test_train_on_a_full_disk_is_one_line_and_leaves_no_temporary(small_fs, data_dir, tmp_path):
    cfg = tiny_config(data_dir, tokens=64 * 16 * 8)
    cfg.checkpoints.every_tokens = 64 * 16 * 2
    config = write_config(cfg, tmp_path / "run.yaml")
    res = run_cli("train", "--config", str(config), "--out", str(small_fs / "run"), "--no-progress")
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr[-2000:]
    assert lines[-1].startswith("error: no space left on the device writing ") and "free space and re-run" in lines[-1]
    assert _temporaries(small_fs) == []
    from contracts.run_dir import checksum_problem

    for published in (small_fs / "run" / "checkpoints").glob("step_*"):  # what was published is whole
        assert checksum_problem(published, full=True) is None


def test_appended_records_stay_whole_lines(small_fs):
    _fill(small_fs, 20_000)
    path = small_fs / "pu.jsonl"
    with pytest.raises(OSError) as err, JsonlAppender(path) as log:
        for i in range(10_000):
            log.write({"instance_id": i, "pad": "x" * 500})
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(path)
    data = path.read_bytes()
    assert data.endswith(b"\n") and all(json.loads(line) for line in data.splitlines())


def test_atomic_files_and_the_eval_table_name_the_path(small_fs):
    _fill(small_fs, 4096)
    target = small_fs / "fits.json"
    with pytest.raises(OSError) as err:
        write_text_atomic(target, "x" * 200_000)
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(target) and not target.exists()
    table = small_fs / "eval.csv"
    rows = [{"run": "r", "checkpoint": f"c{i}", "step": i, "params": 1, "tokens": 1, "loss": 3.0, "task": "t",
             "metric": "acc", "value": 0.5} for i in range(5000)]
    with pytest.raises(OSError) as err:
        append_eval_rows(table, rows)
    assert err.value.filename == str(table) and not table.exists() and _temporaries(small_fs) == []


def test_the_command_line_says_it_in_one_line(small_fs, tmp_path):
    _fill(small_fs, 2048)
    records = tmp_path / "r.jsonl"
    rows = [{"task": "t", "instance_id": str(i), "model": "m", "params": n, "samples": 100, "passes": 1 + (i % 3),
             "censored": True, "r": 101, "max_samples": 100, "pu_mle": (1 + (i % 3)) / 100}
            for n in (1e6, 3e6, 1e7) for i in range(40)]
    records.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = run_cli("fit", "task-law", "--records", str(records), "--out", str(small_fs / "law.json"))
    lines = [line for line in res.stderr.strip().splitlines() if line.strip()]
    assert res.returncode == 1 and lines[-1].startswith("error: no space left on the device writing "), res.stderr
    assert str(small_fs / "law.json") in lines[-1] and not (small_fs / "law.json").exists()


def test_injected_enospc_in_the_appender(tmp_path, monkeypatch):
    """Where no filesystem can be mounted: the same guarantees with the write failing as a full disk does."""
    path = tmp_path / "pu.jsonl"
    with JsonlAppender(path) as log:
        log.write({"i": 0})
        real_write = os.write

        def full(fd, data):
            real_write(fd, bytes(data)[:7])  # part of the line reaches the file before the disk fills
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "write", full)
        with pytest.raises(OSError) as err:
            log.write({"i": 1, "pad": "x" * 100})
        monkeypatch.setattr(os, "write", real_write)
    assert err.value.filename == str(path) and path.read_text() == '{"i": 0}\n'
