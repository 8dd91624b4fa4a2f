"""`emergent data prepare`: text/JSONL/parquet -> byte-level BPE tokenizer + token shards.

The output directory holds `tokenizer/` (a Hugging Face tokenizer), `train_000000.bin`...,
`val.bin` and `data.json` (the manifest: vocabulary, dtype, token counts, sources with hashes,
seed, provenance). It is written to a temporary directory and renamed into place, so it either
exists whole or not at all.
"""
from __future__ import annotations

import hashlib
import json
import random
import shutil
import tempfile
from pathlib import Path
from collections.abc import Iterable, Iterator

import numpy as np

from contracts.atomic import clean_stale_temporaries, iter_jsonl, write_text_atomic
from contracts.errors import DataError
from contracts.provenance import provenance
from trainer.shards import dtype_for_vocab, write_shard

TEXT_SUFFIXES = (".txt", ".md", ".jsonl", ".parquet")
EOS = "<|endoftext|>"
PAD = "<|pad|>"


def _paragraph_documents(text: str, min_chars: int = 1000) -> Iterator[str]:
    """Plain text has no document boundaries: group paragraphs into documents of >= min_chars."""
    buffer: list[str] = []
    size = 0
    for para in text.split("\n\n"):
        para = para.strip()
        if not para:
            continue
        buffer.append(para)
        size += len(para)
        if size >= min_chars:
            yield "\n\n".join(buffer)
            buffer, size = [], 0
    if buffer:
        yield "\n\n".join(buffer)


def read_text_strict(path: Path) -> str:
    """A text input as UTF-8. Binary junk (NUL bytes, or more than 1% of bytes that are not UTF-8) is
    refused: tokenized, it would silently become training data."""
    raw = path.read_bytes()
    text = raw.decode("utf-8", errors="replace")
    bad = text.count("\ufffd") - raw.decode("utf-8", errors="ignore").count("\ufffd")
    if b"\x00" in raw or bad > 0.01 * max(1, len(raw)):
        raise DataError(f"{path} is not text (NUL bytes or {bad} bytes that are not UTF-8); give UTF-8 text, JSONL or parquet")
    return text


def read_documents(path: Path, text_field: str = "text") -> list[str]:
    if path.suffix in (".txt", ".md"):
        return list(_paragraph_documents(read_text_strict(path)))
    if path.suffix == ".jsonl":
        docs = []
        for n, row in iter_jsonl(path, strict=True):
            if text_field not in row:
                raise DataError(f"{path}:{n} has no {text_field!r} field; pass --text-field NAME")
            docs.append(str(row[text_field]))
        return docs
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        if text_field not in table.column_names:
            raise DataError(f"{path} has no column {text_field!r} (columns: {table.column_names}); pass --text-field NAME")
        return [str(x) for x in table.column(text_field).to_pylist()]
    raise DataError(f"{path}: unsupported input type {path.suffix!r}; give .txt, .md, .jsonl or .parquet files")


def expand_inputs(inputs: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in TEXT_SUFFIXES and p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            raise DataError(f"input {path} does not exist")
    if not files:
        raise DataError("no input files found; give text, JSONL or parquet files or a directory holding them")
    return files


def train_tokenizer(documents: list[str], vocab_size: int):
    """A byte-level BPE (GPT-2 style): every byte string is representable, so no <unk> is needed."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    bpe = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=[EOS, PAD],
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    core.train_from_iterator(documents, bpe)
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token=EOS, eos_token=EOS, pad_token=PAD,
                                   model_max_length=1_000_000)


def load_tokenizer(path: str | Path):
    from transformers import AutoTokenizer

    path = Path(path)
    if not path.is_dir():
        raise DataError(f"tokenizer directory {path} does not exist")
    try:
        tok = AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError, TypeError, KeyError) as err:  # not a tokenizer folder, or damaged
        raise DataError(f"{path} is not a Hugging Face tokenizer directory ({type(err).__name__}: {str(err)[:120]}); "
                        "give one that AutoTokenizer.from_pretrained loads, or leave out --tokenizer to train one") from None
    if tok.eos_token_id is None:
        raise DataError(f"tokenizer at {path} has no end-of-text token; documents could not be separated")
    return tok


def encode_documents(tokenizer, documents: list[str], batch: int = 2048) -> np.ndarray:
    """Token ids of all documents, each followed by the end-of-text token."""
    eos = tokenizer.eos_token_id
    pieces = []
    for start in range(0, len(documents), batch):
        for enc in tokenizer.backend_tokenizer.encode_batch(documents[start:start + batch], add_special_tokens=False):
            pieces.append(np.asarray(enc.ids + [eos], dtype=np.int64))
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)


def _is_validation(doc: str, fraction: float) -> bool:
    # Hash-based so a document's split never depends on input order or on other documents.
    return int(hashlib.sha1(doc.encode("utf-8")).hexdigest()[:8], 16) % 100_000 < fraction * 100_000


def prepare(inputs: list[str | Path], out: str | Path, vocab_size: int = 8192, tokenizer_dir: str | None = None,
            val_fraction: float = 0.01, seed: int = 1234, text_field: str = "text", dtype: str = "auto",
            shard_tokens: int = 100_000_000) -> dict:
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise DataError(f"output directory {out} already exists and is not empty; choose a new --out")
    if not 0 < val_fraction < 1:
        raise DataError(f"val fraction must lie in (0, 1), got {val_fraction}")
    files = expand_inputs(inputs)
    sources, documents = [], []
    for path in files:
        docs = read_documents(path, text_field)
        sources.append({"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "documents": len(docs)})
        documents.extend(docs)
    documents = [d for d in documents if d.strip()]
    if not documents:
        raise DataError("the inputs hold no text")

    val_docs = [d for d in documents if _is_validation(d, val_fraction)]
    if not val_docs:
        val_docs = [documents[-1]]  # tiny corpora: still hold something out
    held_out = set(val_docs)
    train_docs = [d for d in documents if d not in held_out]
    if not train_docs:
        raise DataError("every document fell into the validation split; give more text or a smaller --val-fraction")
    random.Random(seed).shuffle(train_docs)

    tokenizer = load_tokenizer(tokenizer_dir) if tokenizer_dir else train_tokenizer(train_docs, vocab_size)
    vocab = len(tokenizer)
    if dtype == "auto":
        np_dtype = dtype_for_vocab(vocab)
    else:
        if dtype not in ("uint16", "uint32"):
            raise DataError(f"--dtype must be auto, uint16 or uint32, got {dtype!r}")
        np_dtype = np.uint16 if dtype == "uint16" else np.uint32
        if vocab - 1 > np.iinfo(np_dtype).max:
            raise DataError(f"vocabulary of {vocab} tokens does not fit {dtype} shards (max id {np.iinfo(np_dtype).max}); use --dtype uint32")

    out.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(out.parent, out.name)  # a killed earlier prepare of the same --out
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        tokenizer.save_pretrained(str(tmp / "tokenizer"))
        train_tokens = encode_documents(tokenizer, train_docs)
        val_tokens = encode_documents(tokenizer, val_docs)
        shards = []
        for i, start in enumerate(range(0, len(train_tokens), shard_tokens)):
            name = f"train_{i:06d}.bin"
            chunk = train_tokens[start:start + shard_tokens]
            write_shard(tmp / name, chunk, np_dtype)
            shards.append({"file": name, "tokens": int(chunk.size)})
        write_shard(tmp / "val.bin", val_tokens, np_dtype)
        manifest = {
            "format_version": 1,
            "vocab_size": vocab,
            "dtype": np.dtype(np_dtype).name,
            "eos_token_id": tokenizer.eos_token_id,
            "tokenizer": "tokenizer",
            "tokenizer_source": str(tokenizer_dir) if tokenizer_dir else f"trained byte-level BPE, vocab {vocab_size}",
            "train": shards,
            "train_tokens": int(train_tokens.size),
            "val": {"file": "val.bin", "tokens": int(val_tokens.size)},
            "documents": {"train": len(train_docs), "val": len(val_docs)},
            "seed": seed,
            "val_fraction": val_fraction,
            "sources": sources,
            "provenance": provenance(),
        }
        write_text_atomic(tmp / "data.json", json.dumps(manifest, indent=2))
        if out.exists():
            out.rmdir()  # empty, checked above
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest
