"""`ladder run` refuses plans nobody will finish here, from arithmetic alone (nothing timed, nothing created)."""
from __future__ import annotations

from trainer.ladder import plan, plan_limits

MID = {"name": "mid", "vocab_size": 2048, "seq_len": 256, "rungs": [{"name": "mid", "d_model": 1024, "n_layers": 16, "n_heads": 16,
                                                      "tokens": 1.0e11}]}
HUGE = {"name": "huge", "vocab_size": 32000, "seq_len": 2048, "rungs": [{"name": "huge", "d_model": 65536, "n_layers": 256,
                                                         "n_heads": 512, "tokens": 1.0e18}]}


def test_years_here_but_days_on_a_gpu(monkeypatch):
    runs = plan(MID)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    (here,) = plan_limits(runs, matmul_flops=50e9)
    # 6 N D with N ~ 0.2B and D = 1e11 at 45% of 50 GFLOP/s: about 180 years
    assert "years on this machine (matmul rate 50 GFLOP/s)" in here and 100 < float(here.split()[4]) < 300, here
    assert plan_limits(runs) == []  # a few days on one H100: nothing to refuse there


def test_beyond_memory_and_torchrun_shares_the_time(monkeypatch):
    runs = plan(HUGE)
    memory, years = plan_limits(runs)
    assert "GiB for weights, gradients and optimizer state" in memory and "more than this machine's" in memory
    single = float(years.split()[4])
    monkeypatch.setenv("WORLD_SIZE", "1000")
    shared = plan_limits(runs)[1]
    assert "on 1000 H100s" in shared and abs(float(shared.split()[4]) * 1000 / single - 1) < 0.01
