"""The PassUntil scheduler: sample every unfinished instance until r passes or the cap.

Samples of an instance come in chunks of `chunk_size`; chunk c of instance i always has the same
seed (from the run seed, i and c), whatever else is in flight. Each round packs
batch_size / chunk_size chunks, round-robin over the unfinished instances (an instance takes several
chunks when fewer instances remain than chunks), so the backend always gets a full batch. An
instance's completions are checked in order and counting stops exactly at the r-th pass (or the cap);
later completions of that round are discarded, so K is what sampling one at a time would give.
Finished instances are written at once and leave; the next ones take their place.
"""
from __future__ import annotations

import hashlib
import math
import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from tqdm import tqdm

from contracts.crash_points import crash_point
from contracts.locks import OutputLock
from passuntil.backends import SampleRequest
from passuntil.estimators import estimate_instance
from passuntil.records import RecordWriter, read_records
from passuntil import isolation
from passuntil.sandbox import Limits
from passuntil.tasks import Instance, Task, check


CHECK_THREADS = 4  # code checks run in parallel


def fitted_limits(time_limit: float, parallel: int) -> Limits:
    """Check limits that fit this machine: all parallel checks together within half its memory (a check's bound is
    memory_bytes over all its processes with a cgroup, else max_processes x memory_bytes)."""
    from passuntil import cgroup

    base = Limits(wall_seconds=time_limit, cpu_seconds=max(1, math.ceil(time_limit)))
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return base
    budget = total // (2 * parallel)
    memory = max(256 << 20, min(base.memory_bytes, budget))
    processes = base.max_processes if cgroup.detect() is not None else max(4, min(base.max_processes, budget // memory))
    return replace(base, memory_bytes=int(memory), max_processes=int(processes))


@dataclass
class Settings:
    r: int = 2
    max_samples: int = 100_000
    batch_size: int = 64
    chunk_size: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int | None = None
    seed: int = 0
    time_limit: float = 10.0  # seconds per sandboxed code check

    @property
    def limits(self) -> Limits:
        return fitted_limits(self.time_limit, CHECK_THREADS)

    def validate(self) -> None:
        if self.r < 1 or self.max_samples < self.r:
            raise ValueError(f"need 1 <= r <= max_samples, got r={self.r}, max_samples={self.max_samples}")
        if self.chunk_size < 1 or self.batch_size < self.chunk_size:
            raise ValueError(f"need 1 <= chunk_size <= batch_size, got {self.chunk_size} and {self.batch_size}")
        if not self.temperature > 0 or not 0 < self.top_p <= 1:
            raise ValueError("PassUntil samples: temperature must be > 0 and top_p in (0, 1]")


@dataclass
class _State:
    instance: Instance
    index: int
    samples: int = 0
    passes: int = 0
    chunks_issued: int = 0
    issued_samples: int = 0
    done: bool = False
    cache: dict = field(default_factory=dict)  # completion -> passed; small models repeat themselves
    continued: int | None = None  # samples taken over from an earlier record of the instance (0: sampled afresh)


# What a record was sampled with: the distribution (the first three) and the stopping rule (r, the cap).
SAMPLING = ("temperature", "top_p", "max_new_tokens")
STOPPING = ("r", "max_samples")


def _settings_of(rec: dict) -> dict:
    return {k: rec.get(k) for k in (*STOPPING, *SAMPLING, "seed", "chunk_size")}


def _changed(old: dict, new: dict) -> str:
    keys = [k for k in (*STOPPING, *SAMPLING) if old.get(k) != new.get(k)]
    return ", ".join(f"{k}={old.get(k)}" for k in keys) + "; this run uses " + ", ".join(f"{k}={new.get(k)}" for k in keys)


def resume_state(inst: Instance, index: int, rec: dict | None, new: dict) -> tuple[str, _State | None]:
    """What to do with an instance given its latest record in --out: ("new" | "done" | "continue" | "afresh", state).

    A record sampled from another distribution (temperature, top_p, max_new_tokens) measures another pass
    rate: it is sampled afresh, whatever its counts. Otherwise a record that reached the new r or the new cap
    is reused as it is, and one that needs more (a larger --max-samples or --r) continues from its counts:
    its chunk seeds are never reused (the next chunk index is past every chunk it drew; the unused tail of
    its last chunk is dropped, which leaves the samples independent), unless another chunking under the same
    seed would overlap them (then afresh). Either way the new record says `continued` and supersedes the
    old one (contracts.records)."""
    if rec is None:
        return "new", _State(inst, index)
    if not all(rec.get(k) == new[k] for k in SAMPLING):
        return "afresh", _State(inst, index, continued=0)
    if rec["passes"] >= new["r"] or rec["samples"] >= new["max_samples"]:
        return "done", None
    if rec.get("seed") == new["seed"] and rec.get("chunk_size") != new["chunk_size"]:
        return "afresh", _State(inst, index, continued=0)
    k = rec["samples"]
    return "continue", _State(inst, index, samples=k, passes=rec["passes"], issued_samples=k,
                              chunks_issued=math.ceil(k / new["chunk_size"]), continued=k)


def chunk_seed(seed: int, instance_id: str, chunk: int) -> int:
    digest = hashlib.sha256(f"{seed}|{instance_id}|{chunk}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def select_shard(instances: list[Instance], shard: tuple[int, int] | None, limit: int | None) -> list[Instance]:
    instances = instances[:limit] if limit else instances
    if shard:
        i, n = shard
        instances = [inst for k, inst in enumerate(instances) if k % n == i]
    return instances


def run(task: Task, backend, settings: Settings, out_path, model_name: str, params: int | None = None,
        shard: tuple[int, int] | None = None, limit: int | None = None, progress: bool = True,
        provenance: dict | None = None, log=print) -> list[dict]:
    """Sample the task's (selected) instances; returns the records written in this call."""
    settings.validate()
    with OutputLock(out_path, log=log):  # one writer per records file: a second run is refused, naming this one
        return _run(task, backend, settings, out_path, model_name, params, shard, limit, progress, provenance, log)


def _run(task: Task, backend, settings: Settings, out_path, model_name: str, params, shard, limit, progress, provenance,
         log) -> list[dict]:
    max_new = settings.max_new_tokens or task.max_new_tokens
    latest = {rec["instance_id"]: rec for rec in read_records(out_path)
              if rec["task"] == task.name and rec["model"] == model_name}
    chosen = select_shard(task.instances, shard, limit)
    if task.removed_guessable:
        log(f"{task.name}: removed {task.removed_guessable} random-guessable item(s) (outside PassUntil's scope)")
    todo = _plan_resume(task, chosen, latest, settings, max_new, out_path, log)
    chunks_per_round = max(1, settings.batch_size // settings.chunk_size)
    written: list[dict] = []
    bar = tqdm(total=len(todo), disable=not progress, unit="inst", desc=task.name, dynamic_ncols=True)
    drawn, started, pu_sum = 0, time.perf_counter(), 0.0
    # Code checks are subprocesses: overlap them. The pool closes however the run ends.
    with ThreadPoolExecutor(max_workers=CHECK_THREADS) as pool, RecordWriter(out_path) as writer:
        active: list[_State] = []
        queue = deque(todo)
        cursor = 0
        while queue or active:
            while queue and len(active) < chunks_per_round:
                active.append(queue.popleft())
            # Round-robin: one chunk per instance per pass over the active list, until the round is full.
            plan: list[tuple[_State, int, int]] = []
            while len(plan) < chunks_per_round:
                progressed = False
                for k in range(len(active)):
                    state = active[(cursor + k) % len(active)]
                    remaining = settings.max_samples - state.issued_samples
                    if remaining <= 0 or len(plan) >= chunks_per_round:
                        continue
                    n = min(settings.chunk_size, remaining)
                    plan.append((state, state.chunks_issued, n))
                    state.chunks_issued += 1
                    state.issued_samples += n
                    progressed = True
                if not progressed:
                    break
            cursor += 1
            requests = [SampleRequest(st.instance.prompt, n, chunk_seed(settings.seed, st.instance.id, c),
                                      settings.temperature, settings.top_p, max_new, tuple(task.stop), st.instance.id)
                        for st, c, n in plan]
            completions = backend.sample(requests)
            drawn += sum(len(c) for c in completions)
            for (state, _, _), texts in zip(plan, completions):
                if state.done:
                    continue
                fresh = [t for t in dict.fromkeys(texts) if t not in state.cache]
                for text, ok in zip(fresh, pool.map(lambda t, inst=state.instance: check(inst, t, settings.limits), fresh)):
                    state.cache[text] = ok
                for text in texts:
                    state.samples += 1
                    state.passes += state.cache[text]
                    if state.passes >= settings.r or state.samples >= settings.max_samples:
                        state.done = True
                        break
                if state.done:
                    record = _record(task, state, settings, model_name, params, max_new, backend, provenance)
                    writer.write(record)
                    crash_point("passuntil:after-record")
                    written.append(record)
                    pu_sum += record["pu_mle"]
                    bar.update(1)
                    rate = drawn / max(time.perf_counter() - started, 1e-9)
                    bar.set_postfix(samples=f"{drawn:,}", per_s=f"{rate:,.0f}", mean_pu=f"{pu_sum / len(written):.2e}")
            active = [st for st in active if not st.done]
    bar.close()
    return written


def _plan_resume(task: Task, chosen: list[Instance], latest: dict, settings: Settings, max_new, out_path, log) -> list[_State]:
    """The instances to sample, with one line saying what was reused from --out, continued or redone."""
    new = {"r": settings.r, "max_samples": settings.max_samples, "temperature": settings.temperature,
           "top_p": settings.top_p, "max_new_tokens": max_new, "seed": settings.seed, "chunk_size": settings.chunk_size}
    # Distinct earlier settings in file order (a set's order varies with string hashing between runs).
    olds = [dict(o) for o in dict.fromkeys(tuple(_settings_of(rec).items()) for rec in latest.values())]
    differing = [o for o in olds if any(o.get(k) != new[k] for k in (*STOPPING, *SAMPLING))]
    if differing:
        log(f"warning: {out_path} holds {task.name} records of this model sampled with {_changed(differing[0], new)} "
            "(each record keeps its own settings)")
    counts = {"new": 0, "done": 0, "continue": 0, "afresh": 0}
    todo = []
    for k, inst in enumerate(chosen):
        action, state = resume_state(inst, k, latest.get(inst.id), new)
        counts[action] += 1
        if state is not None:
            todo.append(state)
    parts = [f"{len(chosen)} instance(s) selected", f"{counts['done']} already in {out_path}"]
    if counts["continue"]:
        parts.append(f"{counts['continue']} continued from their records (they need more samples for r={settings.r} "
                     f"or the cap {settings.max_samples})")
    if counts["afresh"]:
        parts.append(f"{counts['afresh']} sampled afresh (recorded with other sampling settings)")
    log(f"{task.name}: {', '.join(parts)}, {len(todo)} to sample")
    return todo


def _record(task: Task, state: _State, settings: Settings, model_name: str, params, max_new, backend, provenance) -> dict:
    est = estimate_instance(state.samples, state.passes, settings.r, settings.max_samples)
    return {
        "task": task.name, "instance_id": state.instance.id, "model": model_name, "params": params,
        "samples": est.samples, "passes": est.passes, "censored": est.censored, "r": settings.r,
        "max_samples": settings.max_samples, "pu_mle": est.pu_mle, "pu_unbiased": est.pu_unbiased,
        "ci_low": est.ci_low, "ci_high": est.ci_high, "temperature": settings.temperature, "top_p": settings.top_p,
        "max_new_tokens": max_new, "seed": settings.seed, "chunk_size": settings.chunk_size,
        "backend": getattr(backend, "name", type(backend).__name__), **(provenance or {}),
        "isolation": isolation.detect().level if state.instance.checker == "code" else None,  # sandbox level
        **({} if state.continued is None else {"continued": state.continued}),
    }
