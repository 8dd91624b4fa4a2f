"""The scheduler keeps the backend on full batches and stops each instance exactly at r passes."""
from __future__ import annotations

import numpy as np

from passuntil.backends.simulated import SimulatedBackend
from passuntil.records import read_records
from passuntil.scheduler import Settings, chunk_seed, run
from passuntil.tasks import Instance, Task


def _task(n):
    return Task("sched", [Instance(f"i{k}", "prompt", "exact", answers=["PASS"]) for k in range(n)], ["\n"], 8)


def expected_outcome(instance_id, p, settings):
    """Sample one at a time from the same per-chunk seeds: where does the r-th pass fall?"""
    samples = passes = chunk = 0
    while True:
        n = min(settings.chunk_size, settings.max_samples - chunk * settings.chunk_size)
        draws = np.random.default_rng(chunk_seed(settings.seed, instance_id, chunk)).random(n) < p
        for hit in draws:
            samples += 1
            passes += bool(hit)
            if passes >= settings.r or samples >= settings.max_samples:
                return samples, passes
        chunk += 1


def test_full_batches_and_exact_stopping(tmp_path):
    probs = {f"i{k}": p for k, p in enumerate([0.5, 0.2, 0.05, 0.01, 0.003, 0.3, 0.08, 0.02] * 3)}
    settings = Settings(r=2, max_samples=5000, batch_size=64, chunk_size=8, seed=11)
    backend = SimulatedBackend(probs)
    out = tmp_path / "sched.jsonl"
    run(_task(len(probs)), backend, settings, out, model_name="sim", progress=False, log=lambda *_: None)

    sizes = [sum(req.n for req in call) for call in backend.calls]
    assert all(size == settings.batch_size for size in sizes), sizes  # every call is a full batch
    records = {rec["instance_id"]: rec for rec in read_records(out)}
    assert len(records) == len(probs)
    for instance_id, p in probs.items():
        assert (records[instance_id]["samples"], records[instance_id]["passes"]) == expected_outcome(instance_id, p, settings)


def test_results_do_not_depend_on_batching(tmp_path):
    probs = {f"i{k}": p for k, p in enumerate([0.4, 0.1, 0.02, 0.005])}
    outcomes = []
    for batch in (8, 32, 256):
        out = tmp_path / f"b{batch}.jsonl"
        run(_task(4), SimulatedBackend(probs), Settings(r=2, max_samples=3000, batch_size=batch, chunk_size=8, seed=1), out,
            model_name="sim", progress=False, log=lambda *_: None)
        outcomes.append({rec["instance_id"]: (rec["samples"], rec["passes"]) for rec in read_records(out)})
    assert outcomes[0] == outcomes[1] == outcomes[2]


def test_shards_partition_the_instances(tmp_path):
    probs = {f"i{k}": 0.3 for k in range(10)}
    seen = []
    for i in range(3):
        out = tmp_path / f"shard{i}.jsonl"
        run(_task(10), SimulatedBackend(probs), Settings(r=1, max_samples=100, batch_size=16, chunk_size=4), out,
            model_name="sim", shard=(i, 3), progress=False, log=lambda *_: None)
        seen.extend(rec["instance_id"] for rec in read_records(out))
    assert sorted(seen) == sorted(probs)


class _FailingBackend(SimulatedBackend):
    """Answers the first call, then fails, as a backend that runs out of memory mid-run would."""

    def sample(self, requests):
        if self.calls:
            raise RuntimeError("backend failed")
        return super().sample(requests)


def test_the_check_pool_closes_when_the_backend_fails(tmp_path):
    import threading

    import pytest

    before = {t.ident for t in threading.enumerate()}
    probs = {f"i{k}": 0.001 for k in range(4)}
    with pytest.raises(RuntimeError, match="backend failed"):
        run(_task(4), _FailingBackend(probs), Settings(r=2, max_samples=1000, batch_size=16, chunk_size=8), tmp_path / "f.jsonl",
            model_name="sim", progress=False, log=lambda *_: None)
    leftover = [t for t in threading.enumerate() if t.ident not in before and t.name.startswith("ThreadPoolExecutor")]
    assert not leftover
