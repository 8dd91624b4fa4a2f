"""Reading run directories: the one place later stages (eval, PassUntil, analysis) learn about checkpoints."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from contracts.atomic import read_jsonl
from contracts.errors import RunDirError


@dataclass(frozen=True)
class CheckpointRef:
    run: str
    checkpoint: str  # the directory name, e.g. step_00001234
    path: Path
    step: int | None
    params: int | None
    params_nonembedding: int | None
    tokens: int | None
    loss: float | None  # validation (pre-training) loss


def _ref(record: dict, path: Path, run: str) -> CheckpointRef:
    return CheckpointRef(run=run, checkpoint=path.name, path=path, step=record.get("step"), params=record.get("params"),
                         params_nonembedding=record.get("params_nonembedding"), tokens=record.get("tokens"),
                         loss=record.get("val_loss"))


def read_checkpoints(run_dir: str | Path) -> list[CheckpointRef]:
    """Every complete checkpoint of a run, in step order, with its loss and size."""
    run_dir = Path(run_dir)
    records = read_jsonl(run_dir / "checkpoints.jsonl")
    if not records:
        raise RunDirError(f"{run_dir} has no checkpoints.jsonl entries; is it a run directory written by `emergent train`?")
    return [_ref(r, run_dir / r["path"], r.get("run") or run_dir.name) for r in records if (run_dir / r["path"]).is_dir()]


def read_checkpoint(path: str | Path) -> CheckpointRef:
    """One Hugging Face checkpoint directory; size and loss come from our record when it has one."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise RunDirError(f"{path} is neither a run directory (checkpoints.jsonl) nor a checkpoint (config.json)")
    record = {}
    if (path / "checkpoint.json").is_file():
        record = json.loads((path / "checkpoint.json").read_text())
    else:
        record = json.loads((path / "config.json").read_text()).get("emergent_suite", {})
    run = record.get("run") or (path.parent.parent.name if path.parent.name == "checkpoints" else path.name)
    return _ref(record, path, run)


def resolve_targets(targets) -> list[CheckpointRef]:
    """Run directories expand to their checkpoints; checkpoint directories stand for themselves."""
    refs: list[CheckpointRef] = []
    for target in targets:
        target = Path(target)
        if (target / "checkpoints.jsonl").is_file():
            refs.extend(read_checkpoints(target))
        else:
            refs.append(read_checkpoint(target))
    return refs
