"""Memory-mapped token shards with a self-describing header.

Layout (little endian): 8-byte magic b"EMTOKENS", uint32 version, uint32 bytes per token (2 or 4),
uint64 token count, 8 reserved bytes; then the tokens. 32 bytes of header keep the data aligned.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from contracts.errors import DataError

MAGIC = b"EMTOKENS"
VERSION = 1
HEADER = struct.Struct("<8sIIQ8x")
DTYPES = {2: np.uint16, 4: np.uint32}


def dtype_for_vocab(vocab_size: int) -> type:
    return np.uint16 if vocab_size <= 2**16 else np.uint32


def write_shard(path: Path, tokens: np.ndarray, dtype: type) -> None:
    tokens = np.asarray(tokens)
    if tokens.size and int(tokens.max()) > np.iinfo(dtype).max:
        raise DataError(f"token id {int(tokens.max())} does not fit {np.dtype(dtype).name}; use --dtype uint32")
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(HEADER.pack(MAGIC, VERSION, np.dtype(dtype).itemsize, tokens.size))
        fh.write(tokens.astype(dtype, copy=False).tobytes())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_shard(path: Path) -> np.ndarray:
    """A read-only memory map of the shard's tokens."""
    width, count = check_shard(path)
    return np.memmap(path, dtype=DTYPES[width], mode="r", offset=HEADER.size, shape=(count,))


def check_shard(path: Path) -> tuple[int, int]:
    """(width, count) of a whole shard: header, version and size checked (a truncated file is refused)."""
    if not Path(path).is_file():
        raise DataError(f"token shard {path} is missing; re-run `emergent data prepare`")
    with open(path, "rb") as fh:
        raw = fh.read(HEADER.size)
    if len(raw) < HEADER.size:
        raise DataError(f"{path} is too short to be a token shard; re-run `emergent data prepare`")
    magic, version, width, count = HEADER.unpack(raw)
    if magic != MAGIC:
        raise DataError(f"{path} is not a token shard (bad magic); re-run `emergent data prepare`")
    if version != VERSION or width not in DTYPES:
        raise DataError(f"{path} has shard version {version} / width {width} this trainer cannot read")
    expected = HEADER.size + width * count
    if os.path.getsize(path) != expected:
        raise DataError(f"{path} is truncated ({os.path.getsize(path)} bytes, header says {expected}); "
                        "re-run `emergent data prepare`")
    return width, count
