"""Learning-rate schedules and checkpoint plans."""
from __future__ import annotations

import pytest

from trainer.checkpoint import checkpoint_steps
from trainer.config import ScheduleConfig
from trainer.schedule import lr_multiplier


def test_cosine_warms_up_and_decays_to_floor_at_budget():
    cfg = ScheduleConfig(kind="cosine", warmup_fraction=0.1, min_lr_ratio=0.1)
    values = [lr_multiplier(s, 100, cfg) for s in range(100)]
    assert values[0] == pytest.approx(0.1) and values[9] == pytest.approx(1.0)
    assert values[10] == pytest.approx(1.0)
    assert values[-1] == pytest.approx(0.1, abs=1e-3)
    assert all(b <= a + 1e-12 for a, b in zip(values[10:], values[11:]))


def test_wsd_is_flat_then_decays():
    cfg = ScheduleConfig(kind="wsd", warmup_fraction=0.05, decay_fraction=0.2, min_lr_ratio=0.0)
    values = [lr_multiplier(s, 100, cfg) for s in range(100)]
    assert all(v == 1.0 for v in values[5:80])
    assert values[80] < 1.0 and values[-1] == pytest.approx(0.0)
    sqrt = ScheduleConfig(kind="wsd", warmup_fraction=0.05, decay_fraction=0.2, min_lr_ratio=0.0, decay_shape="sqrt")
    assert lr_multiplier(85, 100, sqrt) < lr_multiplier(85, 100, cfg)  # 1-sqrt drops faster early in the decay


def test_checkpoint_plan():
    assert checkpoint_steps(1000, 100, 4, 10_000) == [1, 3, 10, 32, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]
    assert checkpoint_steps(5, 100, 4, None) == [1, 5]
    assert checkpoint_steps(50, 100, 0, 2000, final=True) == [20, 40, 50]
