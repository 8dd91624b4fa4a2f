"""The PassUntil record: one JSON object per finished instance, appended to a JSONL file.

This module is the schema (field, type, range) and the one reader every stage uses: PassUntil when it
resumes or summarises, analysis when it fits task laws, the study when it reports. A torn last line
(a killed writer) is dropped and counted; any other bad line is named by file:line and counted.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contracts.atomic import JsonlAppender, last_nonblank, read_file_bytes
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


# The contract (docs/CONTRACTS.md): the order is the order `passuntil run` writes.
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
    Field("continued", _INT, required=False, check=_non_negative,
          meaning="samples taken over from an earlier record of the instance, which this one supersedes (0: redone)"),
)
FIELD_NAMES = tuple(f.name for f in FIELDS)


def _problem(record: dict) -> tuple[str, str] | None:
    """(kind, reason) of the first way `record` breaks the contract; the kind, without values, is what a
    count of dropped records is grouped by."""
    for f in FIELDS:
        if f.name not in record:
            if f.required:
                return f"lacks {f.name!r}", f"lacks {f.name!r} ({f.meaning})"
            continue
        value = record[f.name]
        if value is None:
            if f.nullable:
                continue
            return f"{f.name!r} is null", f"{f.name!r} is null"
        if (isinstance(value, bool) and bool not in f.types) or not isinstance(value, f.types):
            return f"{f.name!r} of the wrong type", f"{f.name!r} is {value!r}, not {'/'.join(t.__name__ for t in f.types)}"
        if isinstance(value, float) and not math.isfinite(value):
            return f"{f.name!r} not finite", f"{f.name!r} is {value}"
        if f.check is not None and not f.check(value):
            return f"{f.name!r} out of range", f"{f.name!r} = {value!r} is out of range"
    if record["passes"] > record["samples"]:
        return "passes > samples", f"passes ({record['passes']}) exceed samples ({record['samples']})"
    # An instance stops at its r-th pass or, censored, at the cap with fewer: any other combination is no record
    # PassUntil can write (r > samples without censoring, say), and its estimate would be meaningless.
    if record["censored"] != (record["passes"] < record["r"]):
        return ("censored disagrees with passes < r",
                f"says censored = {record['censored']} with {record['passes']} passes for r = {record['r']} "
                f"(censored means fewer than r passes)")
    if record["censored"] and record["samples"] != record["max_samples"]:
        return ("censored before the cap", f"is censored after {record['samples']} samples, not at its cap "
                f"max_samples = {record['max_samples']}")
    return None


def record_problem(record: dict) -> str | None:
    """Why `record` breaks the contract (the first reason), or None when it keeps it."""
    found = _problem(record)
    return None if found is None else found[1]


TORN = "torn last line"


@dataclass
class RecordsRead:
    """What a read found: the records, and every line it dropped with the reason (file:line: why)."""

    records: list[dict] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    kinds: dict[str, int] = field(default_factory=dict)  # dropped lines by kind of problem

    def drop(self, where: str, kind: str, why: str) -> None:
        self.dropped.append(f"{where}: {why}")
        self.kinds[kind] = self.kinds.get(kind, 0) + 1

    def report(self) -> str:
        """One line for the user: how many records were read, and how many lines dropped."""
        text = f"{len(self.records)} record(s)"
        if self.dropped:
            text += f", {len(self.dropped)} line(s) dropped (first: {self.dropped[0]})"
        return text

    def counts(self) -> str:
        """`<reason> (count), ...` over the dropped lines, most frequent first."""
        kinds = sorted(self.kinds.items(), key=lambda kv: (-kv[1], kv[0]))
        return ", ".join(f"{kind} ({n})" for kind, n in kinds)

    def ignored(self) -> str:
        """`N records ignored: <reason> (count), ...`, most frequent first; empty when none was."""
        return f"{len(self.dropped)} records ignored: {self.counts()}" if self.dropped else ""


def _lines(path: Path) -> Iterator[tuple[int, dict | None, tuple[str, str] | None]]:
    """(line number, object, None) for a JSON object line; (line number, None, (kind, why)) for any other
    non-blank line, so every bad line of a file can be counted, not only the first."""
    raw = read_file_bytes(path, RecordError, "give a PassUntil JSONL file").splitlines()
    last = last_nonblank(raw)
    for n, line in enumerate(raw, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError:
            yield n, None, ("not UTF-8 text", "is not UTF-8 text")
            continue
        except json.JSONDecodeError as err:
            torn = n == last and line.lstrip().startswith(b"{")
            yield n, None, ((TORN, f"{TORN} (a killed writer)") if torn else ("not valid JSON", f"is not valid JSON ({err.msg})"))
            continue
        if not isinstance(obj, dict):
            yield n, None, ("not a JSON object", f"holds a JSON {type(obj).__name__}, not an object")
            continue
        yield n, obj, None


def _latest(records: list[dict]) -> list[dict]:
    """Drop each record superseded by a later `continued` record of the same (task, model, instance_id): a
    resumed run that sampled an instance further (or afresh) appends the instance's new record."""
    if not any("continued" in rec for rec in records):
        return records
    key = lambda rec: (rec["task"], rec["model"], str(rec["instance_id"]))  # noqa: E731
    last = {key(rec): i for i, rec in enumerate(records)}
    return [rec for i, rec in enumerate(records) if last[key(rec)] == i or "continued" not in records[last[key(rec)]]]


def read_records(paths: str | Path | Iterable[str | Path], strict: bool = True, need_params: bool = False,
                 into: RecordsRead | None = None, fix: str = "fix or remove those lines") -> RecordsRead:
    """Every record of one or more PassUntil JSONL files.

    strict: any line that is not a record keeping the schema stops the read; the error names the first by
    file:line, counts them all by kind and ends with `fix`. Not strict, each is dropped and counted
    (`RecordsRead.ignored()`). A torn last line (a killed writer) is always dropped and counted, never
    fatal. need_params: a record without a model size (params null) is invalid, as a task-law fit needs N.
    """
    found = into if into is not None else RecordsRead()
    bad = RecordsRead()
    for path in [paths] if isinstance(paths, (str, Path)) else list(paths):
        path = Path(path)
        if not path.is_file():
            raise RecordError(f"PassUntil records file {path} does not exist")
        for n, record, line_problem in _lines(path):
            kind, why = line_problem if line_problem is not None else ("", "")
            if record is not None:
                problem = _problem(record)
                if problem is None and need_params and record.get("params") is None:
                    problem = ("'params' is null", "'params' is null; rerun `passuntil run` with --params N")
                if problem is None:
                    found.records.append(record)
                    continue
                kind, why = problem[0], f"PassUntil record {problem[1]}"
            (found if kind == TORN or not strict else bad).drop(f"{path}:{n}", kind, why)
    found.records = _latest(found.records)
    if bad.dropped:
        total = len(bad.dropped) + len(found.records)
        raise RecordError(f"{bad.dropped[0]}; {len(bad.dropped)} of {total} line(s) are not valid records "
                          f"({bad.counts()}); {fix}")
    return found


class RecordWriter(JsonlAppender):
    """Appends records (checked against the schema first, so a file never holds one that breaks it)."""

    def write(self, record: dict) -> None:
        why = record_problem(record)
        if why is not None:
            raise RecordError(f"refusing to write a PassUntil record that {why}: {record}")
        super().write(record)
