"""Losses stay on the device between log steps; reading them back still names the first diverged step."""
from __future__ import annotations

import pytest
import torch

from contracts.errors import TrainingDiverged
from trainer import parallel
from trainer.loop import PendingLosses


def test_pending_losses_read_back_in_order_and_catch_divergence():
    pending = PendingLosses(parallel.World(0, 1, 0, torch.device("cpu")))
    pending.add(1, torch.tensor(2.0), torch.tensor(1.5))
    pending.add(2, torch.tensor(1.75), torch.tensor(0.5))
    assert pending.read(None) == [(2.0, 1.5), (1.75, 0.5)]
    pending.add(3, torch.tensor(1.0), torch.tensor(1.0))
    pending.add(4, torch.tensor(1.0), torch.tensor(float("inf")))  # gradient norm first
    pending.add(5, torch.tensor(float("nan")), torch.tensor(1.0))
    with pytest.raises(TrainingDiverged, match="at step 4.*step_00000002") as err:
        pending.read("step_00000002")
    assert err.value.step == 4
