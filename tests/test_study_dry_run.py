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


def test_tensor_parallel_size_divides_heads():
    assert [tensor_parallel_size(h, h) for h in (10, 12, 14, 21, 26, 38, 32)] == [2, 4, 2, 1, 2, 2, 8]
    assert tensor_parallel_size(32, 2) == 2
