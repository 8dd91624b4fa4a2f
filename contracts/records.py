"""The PassUntil record: one JSON object per finished instance, appended to a JSONL file.

This module is the schema (field, type, range) and the one reader every stage uses: PassUntil when it
resumes or summarises, analysis when it fits task laws, the study when it reports. A torn last line
(a killed writer) is dropped and counted; any other bad record is named by file:line.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts.atomic import JsonlAppender, iter_jsonl
from contracts.errors import RecordError


def _probability(v: Any) -> bool:
    return 0.0 <= v <= 1.0


def _positive(v: Any) -> bool:
    return v > 0


def _non_negative(v: Any) -> bool:
    return v >= 0


_INT = (int,)
_NUM = (int, float)


@dataclass(frozen=True)
class Field:
    name: str
    types: tuple[type, ...]
    required: bool = True
    nullable: bool = False
    check: Callable[[Any], bool] | None = None
    meaning: str = ""


# The contract (../shared/DESIGN.md): the order is the order `passuntil run` writes.
FIELDS: tuple[Field, ...] = (
    Field("task", (str,), meaning="task name"),
    Field("instance_id", (str, int), meaning="the instance within the task"),
    Field("model", (str,), meaning="checkpoint directory or hub id"),
    Field("params", _NUM, nullable=True, check=_positive, meaning="model size N (null when unknown)"),
    Field("samples", _INT, check=_positive, meaning="samples drawn"),
    Field("passes", _INT, check=_non_negative, meaning="passing samples"),
    Field("censored", (bool,), meaning="the cap was reached before r passes"),
    Field("r", _INT, check=_positive, meaning="passes waited for"),
    Field("max_samples", _INT, check=_positive, meaning="the cap"),
    Field("pu_mle", _NUM, check=_probability, meaning="passes / samples"),
    Field("pu_unbiased", _NUM, required=False, nullable=True, check=_probability),
    Field("ci_low", _NUM, required=False, check=_probability),
    Field("ci_high", _NUM, required=False, check=_probability),
    Field("temperature", _NUM, required=False, check=_positive),
    Field("top_p", _NUM, required=False, check=lambda v: 0 < v <= 1),
    Field("max_new_tokens", _INT, required=False, nullable=True, check=_positive),
    Field("seed", _INT, required=False),
    Field("chunk_size", _INT, required=False, check=_positive),
    Field("backend", (str,), required=False),
    Field("versions", (dict,), required=False),
    Field("git_revision", (str,), required=False, nullable=True),
)
FIELD_NAMES = tuple(f.name for f in FIELDS)


def record_problem(record: dict) -> str | None:
    """Why `record` breaks the contract (the first reason), or None when it keeps it."""
    for f in FIELDS:
        if f.name not in record:
            if f.required:
                return f"lacks {f.name!r} ({f.meaning})"
            continue
        value = record[f.name]
        if value is None:
            if f.nullable:
                continue
            return f"{f.name!r} is null"
        if isinstance(value, bool) and bool not in f.types:
            return f"{f.name!r} is {value!r}, not {'/'.join(t.__name__ for t in f.types)}"
        if not isinstance(value, f.types):
            return f"{f.name!r} is {value!r}, not {'/'.join(t.__name__ for t in f.types)}"
        if isinstance(value, float) and not math.isfinite(value):
            return f"{f.name!r} is {value}"
        if f.check is not None and not f.check(value):
            return f"{f.name!r} = {value!r} is out of range"
    if record["passes"] > record["samples"]:
        return f"passes ({record['passes']}) exceed samples ({record['samples']})"
    return None


@dataclass
class RecordsRead:
    """What a read found: the records, and every line it dropped with the reason (file:line: why)."""

    records: list[dict] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def report(self) -> str:
        """One line for the user: how many records were read, and how many lines dropped."""
        text = f"{len(self.records)} record(s)"
        if self.dropped:
            text += f", {len(self.dropped)} line(s) dropped (first: {self.dropped[0]})"
        return text


def read_records(paths: str | Path | Iterable[str | Path], strict: bool = True, need_params: bool = False,
                 into: RecordsRead | None = None) -> RecordsRead:
    """Every record of one or more PassUntil JSONL files.

    strict: a record that breaks the schema stops the read with file:line and the reason; not strict,
    it is dropped and counted. A torn last line is always dropped and counted, never fatal. need_params:
    a record without a model size (params null) is invalid, as a task-law fit needs N.
    """
    found = into if into is not None else RecordsRead()
    for path in [paths] if isinstance(paths, (str, Path)) else list(paths):
        path = Path(path)
        if not path.is_file():
            raise RecordError(f"PassUntil records file {path} does not exist")
        for n, record in iter_jsonl(path, strict=False, skipped=found.dropped):
            why = record_problem(record)
            if why is None and need_params and record.get("params") is None:
                why = "'params' is null; rerun `passuntil run` with --params N"
            if why is None:
                found.records.append(record)
            elif strict:
                raise RecordError(f"{path}:{n}: PassUntil record {why}")
            else:
                found.dropped.append(f"{path}:{n}: {why}")
    return found


class RecordWriter(JsonlAppender):
    """Appends records (checked against the schema first, so a file never holds one that breaks it)."""

    def write(self, record: dict) -> None:
        why = record_problem(record)
        if why is not None:
            raise RecordError(f"refusing to write a PassUntil record that {why}: {record}")
        super().write(record)
