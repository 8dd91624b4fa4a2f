"""Reading a prepared data directory: deterministic training batches and the fixed validation sample.

Training examples are windows of seq_len + 1 tokens (input and shifted target) cut from each shard
at stride seq_len. Their order is a permutation drawn from the seed, a fresh one per epoch. Example
k of the stream depends only on (data, seq_len, seed, k): every rung of a ladder sees the same data
in the same order, and a resumed run continues at example `step * global_batch_size` exactly.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from contracts.errors import DataError
from trainer.shards import check_shard, read_shard


def load_manifest(data_dir: str | Path) -> dict:
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"data directory {data_dir} does not exist; create it with `emergent data prepare`")
    manifest_path = data_dir / "data.json"
    if not manifest_path.is_file():
        raise DataError(f"data directory {data_dir} has no data.json; create it with `emergent data prepare`")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{manifest_path} is not valid JSON ({getattr(err, 'msg', err)}); "
                        "re-create the directory with `emergent data prepare`") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("vocab_size"), int) \
            or not isinstance(manifest.get("train"), list) or not isinstance(manifest.get("val"), dict):
        raise DataError(f"{manifest_path} lacks vocab_size/train/val; re-create the directory with `emergent data prepare`")
    if manifest["vocab_size"] <= 0:
        raise DataError(f"{manifest_path} gives vocab_size {manifest['vocab_size']}; re-create it with `emergent data prepare`")
    if not isinstance(manifest.get("train_tokens", 0), int) or manifest.get("train_tokens", 0) <= 0:
        raise DataError(f"data directory {data_dir} holds no training tokens; prepare it from a non-empty corpus")
    for entry in [*manifest["train"], manifest["val"]]:  # headers and sizes only: cheap, and before anything is made
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            raise DataError(f"{manifest_path} lists a shard without a file name; re-create it with `emergent data prepare`")
        check_shard(data_dir / entry["file"])
    return manifest


class TokenStream:
    def __init__(self, data_dir: str | Path, seq_len: int, seed: int):
        self.data_dir = Path(data_dir)
        self.manifest = load_manifest(self.data_dir)
        self.seq_len, self.seed = seq_len, seed
        self.shards = [read_shard(self.data_dir / s["file"]) for s in self.manifest["train"]]
        per_shard = np.array([max(0, (len(s) - 1) // seq_len) for s in self.shards], dtype=np.int64)
        self.n_windows = int(per_shard.sum())
        if self.n_windows == 0:
            raise DataError(f"{self.data_dir} has fewer than seq_len + 1 = {seq_len + 1} training tokens; "
                            "prepare more text or lower seq_len")
        self._shard_start = np.concatenate([[0], np.cumsum(per_shard)])
        self._epoch, self._order = -1, np.empty(0, dtype=np.int64)  # filled on first use

    @property
    def vocab_size(self) -> int:
        return int(self.manifest["vocab_size"])

    def window_of(self, index: int) -> int:
        """Which window example `index` of the stream is: a fresh permutation per epoch."""
        epoch, within = divmod(index, self.n_windows)
        if epoch != self._epoch:
            self._order = np.random.default_rng([self.seed, epoch]).permutation(self.n_windows)
            self._epoch = epoch
        return int(self._order[within])

    def _window(self, index: int) -> np.ndarray:
        window = self.window_of(index)
        shard = int(np.searchsorted(self._shard_start, window, side="right") - 1)
        offset = (window - int(self._shard_start[shard])) * self.seq_len
        return np.asarray(self.shards[shard][offset:offset + self.seq_len + 1], dtype=np.int64)

    def batch(self, first: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Examples first .. first+count-1 of the stream as (inputs, targets)."""
        rows = np.stack([self._window(first + i) for i in range(count)])
        tensor = torch.from_numpy(rows)
        return tensor[:, :-1], tensor[:, 1:]


def validation_batches(data_dir: str | Path, seq_len: int, val_tokens: int, batch_size: int):
    """The fixed validation sample: the first `val_tokens` tokens of val.bin in windows of seq_len.

    The same for every checkpoint of every rung, so validation losses are directly comparable.
    """
    manifest = load_manifest(data_dir)
    tokens = read_shard(Path(data_dir) / manifest["val"]["file"])
    usable = min(len(tokens) - 1, val_tokens)
    n = usable // seq_len
    if n == 0:
        raise DataError(f"validation split of {data_dir} has {len(tokens)} tokens, fewer than seq_len + 1 = {seq_len + 1}; "
                        "prepare with a larger --val-fraction or lower seq_len")
    rows = np.stack([np.asarray(tokens[i * seq_len:(i + 1) * seq_len + 1], dtype=np.int64) for i in range(n)])
    tensor = torch.from_numpy(rows)
    return [(tensor[i:i + batch_size, :-1], tensor[i:i + batch_size, 1:]) for i in range(0, n, batch_size)]
