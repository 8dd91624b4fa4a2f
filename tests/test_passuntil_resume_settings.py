"""`passuntil run` again on the same --out with a larger cap or another r: the instances that need more
samples continue from their records (never silently nothing), a warning names the old and new settings,
and the new record supersedes the old one for every reader."""
from __future__ import annotations

import math

from contracts.records import read_records as read_contract
from passuntil.backends.simulated import SimulatedBackend
from passuntil.records import read_records
from passuntil.scheduler import Settings, chunk_seed, run
from tests.test_passuntil_scheduler import _task, expected_outcome

PROBS = {f"i{k}": p for k, p in enumerate([0.4, 0.05, 0.01, 0.003, 0.0005, 0.2])}


def _run(out, settings, backend=None):
    said: list[str] = []
    backend = backend or SimulatedBackend(PROBS)
    run(_task(len(PROBS)), backend, settings, out, model_name="sim", progress=False, log=said.append)
    return said, backend


def test_a_larger_cap_continues_the_censored_instances_exactly(tmp_path):
    out = tmp_path / "pu.jsonl"
    small = Settings(r=2, max_samples=64, batch_size=32, chunk_size=8, seed=3)
    _run(out, small)
    first = {rec["instance_id"]: rec for rec in read_records(out)}
    needing = {i for i, rec in first.items() if rec["passes"] < 2}
    assert needing and len(needing) < len(PROBS)  # the case is real: some censored, some not

    large = Settings(r=2, max_samples=3000, batch_size=32, chunk_size=8, seed=3)
    said, backend = _run(out, large)
    assert any(line.startswith("warning: ") and "max_samples=64" in line and "max_samples=3000" in line for line in said), said
    assert any(f"{len(needing)} continued" in line for line in said), said
    # no seed is drawn twice: every chunk asked for is past the chunks of the first run
    for call in backend.calls:
        for req in call:
            assert req.key in needing
            used = {chunk_seed(3, req.key, c) for c in range(64 // 8)}
            assert req.seed not in used
    final = {rec["instance_id"]: rec for rec in read_records(out)}
    assert len(read_contract(out).records) == len(PROBS)  # one record per instance for every reader
    for instance_id, p in PROBS.items():
        rec = final[instance_id]
        # the cap was a whole number of chunks, so continuing equals sampling with the large cap from the start
        assert (rec["samples"], rec["passes"]) == expected_outcome(instance_id, p, large), instance_id
        assert rec["max_samples"] == (3000 if instance_id in needing else 64)
        assert rec.get("continued") == (64 if instance_id in needing else None)


def test_another_r_continues_and_a_third_run_samples_nothing(tmp_path):
    out = tmp_path / "pu.jsonl"
    _run(out, Settings(r=1, max_samples=400, batch_size=32, chunk_size=8, seed=5))
    before = {rec["instance_id"]: rec for rec in read_records(out)}
    said, _ = _run(out, Settings(r=3, max_samples=400, batch_size=32, chunk_size=8, seed=5))
    assert any("r=1" in line and "r=3" in line for line in said if line.startswith("warning: ")), said
    after = {rec["instance_id"]: rec for rec in read_records(out)}
    for instance_id, rec in after.items():
        old = before[instance_id]
        if old["samples"] >= 400:
            assert rec is old or rec == old  # censored at the same cap: reused as it is
            continue
        assert rec["samples"] >= old["samples"] and rec["passes"] >= old["passes"]
        assert rec["passes"] == 3 or rec["samples"] == 400
        assert rec["r"] == 3 and rec["continued"] == old["samples"]
        assert 0 <= rec["pu_unbiased"] <= 1 and math.isfinite(rec["pu_mle"])
    again, backend = _run(out, Settings(r=3, max_samples=400, batch_size=32, chunk_size=8, seed=5))
    assert backend.calls == [] and not any(line.startswith("warning: ") for line in again), again
    assert f"{len(PROBS)} already in" in again[-1]


def test_another_temperature_samples_afresh_and_says_so(tmp_path):
    out = tmp_path / "pu.jsonl"
    _run(out, Settings(r=2, max_samples=64, batch_size=32, chunk_size=8, seed=3, temperature=1.0))
    # Every instance, finished or not: a pass rate at temperature 1.0 is not one at 0.7.
    said, _ = _run(out, Settings(r=2, max_samples=128, batch_size=32, chunk_size=8, seed=3, temperature=0.7))
    assert any("temperature=1.0" in line and "temperature=0.7" in line for line in said), said
    assert any(f"{len(PROBS)} sampled afresh" in line for line in said), said
    latest = read_records(out)
    assert len(latest) == len(PROBS)
    assert all(rec.get("continued") == 0 and rec["temperature"] == 0.7 for rec in latest)
