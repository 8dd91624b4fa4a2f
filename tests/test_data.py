"""Token shards and the data stream: self-describing, deterministic, the same for every rung."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.conftest import run_cli
from trainer.data import TokenStream
from trainer.data_prepare import prepare
from contracts.errors import DataError
from trainer.shards import HEADER, MAGIC, read_shard, write_shard


def test_shard_header_round_trip(tmp_path):
    tokens = np.arange(1000, dtype=np.int64) * 61
    write_shard(tmp_path / "a.bin", tokens, np.uint32)
    raw = (tmp_path / "a.bin").read_bytes()
    magic, version, width, count = HEADER.unpack(raw[:HEADER.size])
    assert (magic, version, width, count) == (MAGIC, 1, 4, 1000)
    assert np.array_equal(read_shard(tmp_path / "a.bin"), tokens)
    (tmp_path / "b.bin").write_bytes(raw[:-3])
    with pytest.raises(DataError, match="truncated"):
        read_shard(tmp_path / "b.bin")


def test_prepared_manifest_and_dtype(data_dir):
    manifest = json.loads((data_dir / "data.json").read_text())
    assert manifest["vocab_size"] == 512 and manifest["dtype"] == "uint16"
    assert manifest["train_tokens"] > 100_000 and manifest["val"]["tokens"] > 5_000
    assert all(len(s["sha256"]) == 64 for s in manifest["sources"])
    assert (data_dir / "tokenizer" / "tokenizer.json").is_file()
    assert "versions" in manifest["provenance"]


def test_jsonl_and_parquet_inputs_with_existing_tokenizer(tmp_path, data_dir):
    import pyarrow as pa
    import pyarrow.parquet as pq

    texts = [f"Document {i}: the quick brown fox jumps over {i} lazy dogs." for i in range(200)]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps({"content": t}) + "\n" for t in texts[:100]))
    pq.write_table(pa.table({"content": texts[100:]}), tmp_path / "b.parquet")
    manifest = prepare([tmp_path / "a.jsonl", tmp_path / "b.parquet"], tmp_path / "out", text_field="content",
                       tokenizer_dir=str(data_dir / "tokenizer"), val_fraction=0.1)
    assert manifest["documents"]["train"] + manifest["documents"]["val"] == 200
    assert manifest["vocab_size"] == 512
    with pytest.raises(DataError, match="--text-field"):
        prepare([tmp_path / "a.jsonl"], tmp_path / "out2", text_field="text", vocab_size=300)


def test_stream_is_deterministic_and_shared_across_rungs(data_dir):
    a = TokenStream(data_dir, seq_len=64, seed=5)
    b = TokenStream(data_dir, seq_len=64, seed=5)
    x1, y1 = a.batch(1000, 8)
    x2, y2 = b.batch(1000, 8)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert torch.equal(x1[:, 1:], y1[:, :-1])  # targets are inputs shifted by one
    c = TokenStream(data_dir, seq_len=64, seed=6)
    assert not torch.equal(c.batch(1000, 8)[0], x1)
    # An epoch visits every window exactly once; the next epoch in another order.
    n = a.n_windows
    first_epoch = [a.window_of(i) for i in range(n)]
    second_epoch = [a.window_of(n + i) for i in range(n)]
    assert sorted(first_epoch) == list(range(n)) == sorted(second_epoch)
    assert first_epoch != second_epoch


def test_data_prepare_cli_refuses_to_overwrite(tmp_path, corpus_dir):
    out = tmp_path / "d"
    run_cli("data", "prepare", str(corpus_dir), "--out", str(out), "--vocab-size", "300", check=True)
    before = (out / "data.json").read_text()
    again = run_cli("data", "prepare", str(corpus_dir), "--out", str(out), "--vocab-size", "300")
    assert again.returncode == 2 and "not empty" in again.stderr
    assert (out / "data.json").read_text() == before
