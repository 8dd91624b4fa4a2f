"""Checkpoints: atomic Hugging Face directories plus the state needed to resume exactly.

RUN/checkpoints/step_00001234/ holds config.json (with the checkpoint's record, pre-training loss
included, under "emergent_suite"), generation_config.json, model.safetensors (or shards and
model.safetensors.index.json above checkpoints.max_shard_size), the tokenizer, checkpoint.json (the record)
and, for the newest checkpoint, trainer_state.pt (optimizer, step, data position, RNG). A checkpoint
is written to a hidden temporary directory and renamed into place, so a kill during a save never
corrupts the latest one; RUN/checkpoints.jsonl gets its line only after the rename.
"""
from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import torch

import contracts.run_dir
from contracts.crash_points import crash_point
from contracts.errors import RunDirError
from contracts.atomic import append_jsonl, read_jsonl, replace_dir_atomic, write_jsonl_atomic, write_text_atomic
from trainer.config import ModelConfig, checkpoint_steps
from trainer.hf_convert import save_hf_checkpoint

__all__ = ["checkpoint_steps", "latest_resumable", "repair_run_dir", "save_checkpoint", "step_dir"]

TRAINER_STATE = "trainer_state.pt"
RECORD = "checkpoint.json"


def step_dir(run_dir: Path, step: int) -> Path:
    return run_dir / "checkpoints" / f"step_{step:08d}"


def save_checkpoint(run_dir: Path, step: int, model_state: dict, trainer_state: dict, cfg: ModelConfig,
                    tokenizer, record: dict, keep_trainer_state: str = "last", max_shard_size: str = "5GB") -> Path:
    final = step_dir(run_dir, step)
    tmp = final.with_name(f".{final.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        save_hf_checkpoint(tmp, model_state, cfg, tokenizer, extra={"emergent_suite": record}, max_shard_size=max_shard_size)
        torch.save(trainer_state, tmp / TRAINER_STATE)
        # Digests of every file, written before the checkpoint is published: resume, eval and passuntil verify them.
        record = {**record, "files": contracts.run_dir.file_digests(tmp)}
        write_text_atomic(tmp / RECORD, json.dumps(record, indent=2))
    except Exception as err:
        shutil.rmtree(tmp, ignore_errors=True)  # nothing half-written stays behind
        if _full_disk(err, run_dir):
            raise OSError(errno.ENOSPC, "No space left on device", str(final)) from None
        raise
    crash_point("checkpoint:before-rename")
    replace_dir_atomic(tmp, final)
    crash_point("checkpoint:before-jsonl")
    append_jsonl(run_dir / "checkpoints.jsonl", record)
    crash_point("checkpoint:before-prune")
    if keep_trainer_state == "last":
        for older in (run_dir / "checkpoints").glob("step_*"):
            if older != final:
                (older / TRAINER_STATE).unlink(missing_ok=True)
    return final


def _full_disk(err: BaseException, where: Path) -> bool:
    """A write failure that is a full disk, however the library says it: an OSError, safetensors' "os error 28",
    torch's zip writer's "unexpected pos" (it does not pass the errno on), or no room left where we write."""
    from contracts.boundary import FULL_DISK

    if isinstance(err, OSError) and err.errno in FULL_DISK:
        return True
    text = str(err)
    if "No space left" in text or "os error 28" in text or "unexpected pos" in text:
        return True
    try:
        return shutil.disk_usage(where).free < (1 << 20)
    except OSError:
        return False


def damage(directory: Path) -> str | None:
    """Why a checkpoint cannot be resumed from (a torn, overwritten or bit-flipped file), or None when it is whole.

    The trainer state's zip CRCs (torch.save writes a zip), the weights' safetensors header against the
    file's size, and every file against the SHA-256 its record holds (nothing is unpickled or loaded).
    """
    import zipfile

    state = directory / TRAINER_STATE
    try:
        with zipfile.ZipFile(state) as archive:
            bad = archive.testzip()
        if bad is not None:
            return f"{state} is damaged (bad CRC in {bad})"
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        return f"{state} is damaged ({err})"
    # A torn file is named by its structure first; a file whose bytes changed in place, by its digest.
    return contracts.run_dir.weights_damage(directory) or contracts.run_dir.checksum_problem(directory, full=True)


def latest_resumable(run_dir: Path, warn=None) -> Path | None:
    """The newest checkpoint a run can resume from. A damaged newer one is named (through `warn`, else on
    stderr) and skipped; when no whole one is left, the user is told what to do."""
    dirs = sorted(p for p in (run_dir / "checkpoints").glob("step_*") if (p / TRAINER_STATE).is_file() and (p / RECORD).is_file())
    damaged: list[str] = []
    for directory in reversed(dirs):
        why = damage(directory)
        if why is None:
            if damaged:
                (warn or _warn)(f"warning: {'; '.join(damaged)}; resuming from the newest complete checkpoint, {directory.name}")
            return directory
        damaged.append(why)
    if damaged:
        raise RunDirError(f"{'; '.join(damaged)}, and no older checkpoint keeps its trainer state; move the damaged "
                          f"checkpoint aside (mv {dirs[-1]} {dirs[-1].parent / ('damaged-' + dirs[-1].name)}) "
                          "and rerun with --resume to restart from step 0, or start a new --out")
    return None


def _warn(text: str) -> None:
    import sys

    print(text, file=sys.stderr, flush=True)


def repair_run_dir(run_dir: Path, resume_step: int, keep_trainer_state: str = "last") -> None:
    """Bring the run's logs back to the checkpoint we resume from.

    Drops temporary files and directories of interrupted saves (in every subfolder), rebuilds
    checkpoints.jsonl from the records stored inside the complete checkpoint directories (a kill between
    rename and append loses no line), cuts metrics.jsonl back to `resume_step` so the resumed run writes each
    step once, and, under keep_trainer_state "last", removes the optimizer state of every checkpoint but the
    newest (a kill between publishing a checkpoint and removing the older states left them, twice the weights
    each).
    """
    from contracts.atomic import clean_stale_temporaries

    ckpt_root = run_dir / "checkpoints"
    clean_stale_temporaries(run_dir, recursive=True)
    for tmp in ckpt_root.glob(".step_*"):
        shutil.rmtree(tmp, ignore_errors=True)
    records = []
    for directory in sorted(ckpt_root.glob("step_*")):
        record_path = directory / RECORD
        if record_path.is_file() and json.loads(record_path.read_text())["step"] <= resume_step:
            records.append(json.loads(record_path.read_text()))
        elif directory.is_dir():
            shutil.rmtree(directory)  # beyond the resume point: will be written again
    write_jsonl_atomic(run_dir / "checkpoints.jsonl", records)
    metrics = [m for m in read_jsonl(run_dir / "metrics.jsonl") if m["step"] <= resume_step]
    write_jsonl_atomic(run_dir / "metrics.jsonl", metrics)
    if keep_trainer_state == "last":
        kept = sorted(d for d in ckpt_root.glob("step_*") if (d / TRAINER_STATE).is_file())
        for older in kept[:-1]:
            (older / TRAINER_STATE).unlink()
