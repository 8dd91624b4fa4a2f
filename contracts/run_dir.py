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
    bad = [n for n, r in enumerate(records, 1) if not isinstance(r.get("path"), str)]
    if bad:
        raise RunDirError(f"{run_dir / 'checkpoints.jsonl'}:{bad[0]} has no checkpoint path; is it a run directory "
                          "written by `emergent train`?")
    refs = [_ref(r, run_dir / r["path"], r.get("run") or run_dir.name) for r in records if (run_dir / r["path"]).is_dir()]
    refs += _unlisted(run_dir, {(run_dir / r["path"]).resolve() for r in records})
    refs.sort(key=lambda ref: (ref.step if isinstance(ref.step, int) else -1))
    if not refs:
        raise RunDirError(f"{run_dir}: none of the {len(records)} checkpoint(s) listed in checkpoints.jsonl exists; "
                          "was the checkpoints/ directory moved or deleted?")
    return refs


def _unlisted(run_dir: Path, listed: set[Path]) -> list[CheckpointRef]:
    """Complete checkpoints that checkpoints.jsonl does not list (its last line torn by a kill, or cut): each is
    read from its own record, and said, never skipped silently."""
    import sys

    out = []
    for directory in sorted((run_dir / "checkpoints").glob("step_*")):
        record_path = directory / RECORD_NAME
        if directory.resolve() in listed or not record_path.is_file():
            continue
        try:
            record = json.loads(record_path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(record, dict):
            continue
        print(f"warning: {run_dir / 'checkpoints.jsonl'} does not list {directory.name} (a torn last line?); using the "
              f"checkpoint's own record ({record_path})", file=sys.stderr, flush=True)
        out.append(_ref(record, directory, record.get("run") or run_dir.name))
    return out


def _json_object(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RunDirError(f"{path} is not valid JSON ({getattr(err, 'msg', err)}); the checkpoint is damaged") from None
    if not isinstance(value, dict):
        raise RunDirError(f"{path} holds a JSON {type(value).__name__}, not an object; the checkpoint is damaged")
    return value


def read_checkpoint(path: str | Path) -> CheckpointRef:
    """One Hugging Face checkpoint directory; size and loss come from our record when it has one."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise RunDirError(f"{path} is neither a run directory (checkpoints.jsonl) nor a checkpoint (config.json)")
    if (path / "checkpoint.json").is_file():
        record = _json_object(path / "checkpoint.json")
    else:
        record = _json_object(path / "config.json").get("emergent_suite", {})
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


WEIGHTS = "model.safetensors"
WEIGHTS_INDEX = "model.safetensors.index.json"  # Hugging Face's sharded layout: the index names every shard


def weight_files(directory: str | Path) -> list[Path]:
    """The safetensors files of a checkpoint: the shards its index names, else model.safetensors (which may be
    missing: weights_damage says so). Raises ValueError on an index that is not one."""
    directory = Path(directory)
    index = directory / WEIGHTS_INDEX
    if index.is_file():
        weight_map = json.loads(index.read_text())["weight_map"]
        return [directory / name for name in sorted(set(weight_map.values()))]
    return [directory / WEIGHTS]


def weights_damage(directory: str | Path) -> str | None:
    """Why a checkpoint's weights cannot be loaded (missing, torn, not safetensors, a broken shard index), or None.

    Reads only the headers: each file's JSON must parse and its tensors must end exactly at the file's end.
    """
    directory = Path(directory)
    try:
        files = weight_files(directory)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        return f"{directory / WEIGHTS_INDEX} is not a shard index ({type(err).__name__})"
    if not files[0].is_file() and files[0].name == WEIGHTS and any(directory.glob("*.bin")):
        return None  # legacy pickled weights: left to the loader
    for path in files:
        why = _safetensors_damage(path)
        if why is not None:
            return why
    return None


def _safetensors_damage(path: Path) -> str | None:
    import struct

    if not path.is_file():
        return f"{path} does not exist"
    size = path.stat().st_size
    try:
        with open(path, "rb") as fh:
            (length,) = struct.unpack("<Q", fh.read(8))
            if length > size - 8:
                return f"{path} is damaged (header of {length} bytes in a file of {size})"
            header = json.loads(fh.read(length))
        end = max((int(t["data_offsets"][1]) for k, t in header.items() if k != "__metadata__"), default=0)
    except (struct.error, ValueError, UnicodeDecodeError, KeyError, TypeError, IndexError, AttributeError) as err:
        return f"{path} is not a safetensors file ({type(err).__name__})"
    if 8 + length + end != size:
        return f"{path} is damaged ({size} bytes, its header says {8 + length + end})"
    return None


RECORD_NAME = "checkpoint.json"  # the checkpoint's own record: it carries the others' digests, so not its own
MAY_BE_REMOVED = ("trainer_state.pt",)  # older checkpoints drop their optimizer state once a newer one is saved


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def file_digests(directory: str | Path) -> dict[str, dict]:
    """{relative path: {sha256, bytes, mtime_ns}} of every file of a checkpoint directory but its record."""
    directory = Path(directory)
    out = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and p.name != RECORD_NAME):
        stat = path.stat()
        out[str(path.relative_to(directory))] = {"sha256": _sha256(path), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    return out


def checksum_problem(directory: str | Path, full: bool = False) -> str | None:
    """The first file of a checkpoint that does not match the digests its record holds, or None. Fast (full=False):
    sizes, and a hash only where the mtime moved (a copy); full: every hash. A checkpoint from before digests were
    recorded has none to check."""
    directory = Path(directory)
    try:
        record = json.loads((directory / RECORD_NAME).read_text())
    except (OSError, ValueError):
        return None
    files = record.get("files") if isinstance(record, dict) else None
    if not isinstance(files, dict):
        return None
    for rel, want in files.items():
        path = directory / rel
        if not path.is_file():
            if rel in MAY_BE_REMOVED:
                continue
            return f"{path} is missing (its checkpoint records it)"
        stat = path.stat()
        if stat.st_size != want.get("bytes"):
            return f"{path} has {stat.st_size} bytes, its checkpoint recorded {want.get('bytes')} (damaged or replaced)"
        if (full or stat.st_mtime_ns != want.get("mtime_ns")) and _sha256(path) != want.get("sha256"):
            return f"{path} does not match its recorded SHA-256 (damaged: its bytes changed since it was saved)"
    return None


def check_weights(directory: str | Path, full: bool = False) -> None:
    """Refuse a checkpoint whose weights cannot be loaded, or whose files differ from their recorded digests,
    naming the file (before any model is built)."""
    why = weights_damage(directory) or checksum_problem(directory, full=full)
    if why is not None:
        raise RunDirError(f"{why}; give a complete checkpoint (a run's checkpoints.jsonl lists them)")
