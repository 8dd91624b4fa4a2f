"""The study at GPU scale as a list of commands, each runnable exactly as printed on an 8-GPU node.

Checkpoint paths are the real final-step directories the trainer will write; every PassUntil job writes its own
file (one per task, run and shard) and the merge is printed; tensor parallelism always divides the model's
attention and key/value heads (vLLM requires it), and the GPUs it leaves free run data-parallel shards.
"""
from __future__ import annotations

from pathlib import Path

from trainer.checkpoint import step_dir
from trainer.ladder import PlannedRun, plan, plan_table

GPUS_PER_NODE = 8
PASSUNTIL_TASKS = {"humaneval": None, "emoji_movie": "emoji_movie", "date_understanding": "date_understanding"}


def tensor_parallel_size(n_heads: int, n_kv_heads: int, gpus: int = GPUS_PER_NODE) -> int:
    """The largest power of two up to `gpus` that divides both head counts."""
    size = 1
    while size * 2 <= gpus and n_heads % (size * 2) == 0 and n_kv_heads % (size * 2) == 0:
        size *= 2
    return size


def final_checkpoint(out: str, run: PlannedRun) -> str:
    return str(step_dir(Path(out) / "runs" / run.name, run.config.total_steps))


def _gpu_list(shard: int, tp: int) -> str:
    return ",".join(str(g) for g in range(shard * tp, (shard + 1) * tp))


def passuntil_commands(out: str, run: PlannedRun, bigbench: str) -> list[str]:
    model = run.config.model
    tp = tensor_parallel_size(model.n_heads, model.n_kv_heads or model.n_heads)
    shards = GPUS_PER_NODE // tp
    lines = []
    for task, folder in PASSUNTIL_TASKS.items():
        data = f" --data {bigbench}/{folder}" if folder else ""
        shard_dir = f"{out}/passuntil/shards/{task}"
        jobs = [f"CUDA_VISIBLE_DEVICES={_gpu_list(i, tp)} passuntil run --backend vllm --tensor-parallel-size {tp} "
                f"--model {final_checkpoint(out, run)} --task {task}{data} --r 2 --max-samples 100000 "
                f"--shard {i}/{shards} --out {shard_dir}/{run.name}.shard{i}of{shards}.jsonl" for i in range(shards)]
        lines.append(f"mkdir -p {shard_dir} && ( " + " & ".join(jobs) + " & wait )")
    return lines


def dry_run(preset: dict, out: str, bigbench: str = "BIG-bench/bigbench/benchmark_tasks") -> str:
    """The plan, FLOPs and the commands the study would run on a cluster."""
    runs = plan(preset["spec"])
    name = preset["spec"]["name"]
    lines = [plan_table(runs), "", f"Commands (one job per line; {GPUS_PER_NODE} GPUs a node, torchrun, vLLM):"]
    lines.append(f"# the corpus: text, JSONL or parquet files under {out}/corpus/ (where `emergent study` writes its own)")
    lines.append(f"emergent data prepare {out}/corpus/ --out {out}/data --vocab-size {preset['spec'].get('vocab_size')}")
    for r in runs:
        lines.append(f"torchrun --nproc_per_node {GPUS_PER_NODE} -m trainer ladder run {name} --out {out} "
                     f"--data {out}/data --only {r.name}")
    for r in runs:
        tp = tensor_parallel_size(r.config.model.n_heads, r.config.model.n_kv_heads or r.config.model.n_heads)
        lines.append(f"emergent eval {out}/runs/{r.name} --tasks emergent_suite --table {out}/eval.csv --backend vllm "
                     f"--model-args tensor_parallel_size={tp},data_parallel_size={GPUS_PER_NODE // tp}")
    for r in runs:
        lines.extend(passuntil_commands(out, r, bigbench))
    lines.append("# merge the shards (records are one line per instance; shards hold disjoint instances):")
    for task in PASSUNTIL_TASKS:
        lines.append(f"cat {out}/passuntil/shards/{task}/*.jsonl > {out}/passuntil/{task}.jsonl")
    # Globs quoted: the option expands them itself (unquoted, the shell would give it several words).
    lines.append(f"emergent predict --holdout largest --runs '{out}/runs/*' --table {out}/eval.csv "
                 f"--records '{out}/passuntil/*.jsonl'")
    return "\n".join(lines)
