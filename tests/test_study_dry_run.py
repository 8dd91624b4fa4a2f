"""The GPU-scale dry runs print commands that can run as printed: real checkpoint paths, BIG-bench data, one
output file per task, run and shard, and a tensor-parallel size that divides the heads (vLLM requires it)."""
from __future__ import annotations

import re

import pytest

from study.dry_run import GPUS_PER_NODE, dry_run, tensor_parallel_size
from study.presets import preset
from trainer.ladder import plan


@pytest.mark.parametrize("name", ["du2024", "hu2024"])
def test_dry_run_commands_are_concrete(name):
    chosen = preset(name)
    text = dry_run(chosen, "OUT", bigbench="BB")
    runs = {r.name: r for r in plan(chosen["spec"])}
    assert "FINAL" not in text and "I/N" not in text
    outs = re.findall(r"--out (\S+\.jsonl)", text)
    assert len(outs) == len(set(outs)) > 0  # no two jobs append to one file
    for job in re.findall(r"passuntil run [^&]*", text):
        run = re.search(r"--model OUT/runs/([^/]+)/checkpoints/step_(\d{8})", job)
        assert run, job
        planned = runs[run.group(1)]
        assert int(run.group(2)) == planned.config.total_steps
        tp = int(re.search(r"--tensor-parallel-size (\d+)", job).group(1))
        model = planned.config.model
        assert model.n_heads % tp == 0 and model.n_kv_heads % tp == 0, job
        shard, count = map(int, re.search(r"--shard (\d+)/(\d+)", job).group(1, 2))
        assert count * tp == GPUS_PER_NODE and 0 <= shard < count
        if "--task emoji_movie" in job or "--task date_understanding" in job:
            assert re.search(r"--data BB/(emoji_movie|date_understanding)", job), job
    for task in ("humaneval", "emoji_movie", "date_understanding"):
        assert f"cat OUT/passuntil/shards/{task}/*.jsonl > OUT/passuntil/{task}.jsonl" in text


@pytest.mark.parametrize("name", ["smoke", "tiny", "du2024", "hu2024"])
def test_printed_training_commands_name_a_spec_that_loads(name):
    """`ladder run SPEC` as printed resolves to the preset's own ladder (smoke's once lived only in Python)."""
    from trainer.ladder import load_spec

    chosen = preset(name)
    specs = set(re.findall(r"-m trainer ladder run (\S+) ", dry_run(chosen, "OUT")))
    assert len(specs) == 1, specs
    assert load_spec(specs.pop()) == chosen["spec"]


def test_tensor_parallel_size_divides_heads():
    assert [tensor_parallel_size(h, h) for h in (10, 12, 14, 21, 26, 38, 32)] == [2, 4, 2, 1, 2, 2, 8]
    assert tensor_parallel_size(32, 2) == 2


GPU_ONLY = ("torchrun ", "mkdir -p ", "cat ")  # 8-GPU training, vLLM sampling jobs, merges of their shards


def test_gpu_only_lines_are_the_expected_ones():
    text = dry_run(preset("smoke"), "OUT")
    commands = text.split("vLLM):\n", 1)[1].splitlines()
    cpu = [c for c in commands if not c.startswith(("#", *GPU_ONLY)) and "--backend vllm" not in c]
    assert [c.split()[:2] for c in cpu] == [["emergent", "data"], ["emergent", "predict"]], cpu


@pytest.mark.slow  # tokenizes the smoke corpus and refits every law: about a minute on a busy 2-core machine
def test_smoke_dry_run_commands_run_as_printed(smoke_study, tmp_path):
    """The smoke preset's dry run, pointed at a directory holding the smoke study's corpus, runs, eval table
    and PassUntil records: every command that needs no GPU runs verbatim through bash."""
    from tests.conftest import run_cli
    from tests.test_readme_commands import run_bash

    out, _ = smoke_study
    study = tmp_path / "study"
    study.mkdir()
    for name in ("corpus", "runs", "eval.csv", "passuntil"):
        (study / name).symlink_to(out / name)
    printed = run_cli("study", "--preset", "smoke", "--out", str(study), "--dry-run", check=True).stdout
    commands = printed.split("vLLM):\n", 1)[1].splitlines()
    cpu = [c for c in commands if not c.startswith(GPU_ONLY) and "--backend vllm" not in c]
    assert len([c for c in cpu if not c.startswith("#")]) == 2, cpu
    for line in cpu:
        done = run_bash(line, tmp_path)
        assert done.returncode == 0, f"{line}\nexit {done.returncode}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    assert (study / "data" / "data.json").is_file()
    assert "inside" in done.stdout and "loss" in done.stdout  # the last line: the backtest's table
