"""The learning-rate multiplier: warm-up, then linear / cosine decay over the budget's progress."""

import io
import math

import pytest
import torch

from raphael.optim.lr_schedule import BudgetLR, BudgetSchedule


def test_warmup_then_constant():
    schedule = BudgetSchedule(warmup=10)
    assert schedule(0) == pytest.approx(0.1)
    assert schedule(9) == 1.0
    assert schedule(500, progress=0.9) == 1.0


@pytest.mark.parametrize("decay, half", [("linear", 0.5), ("cosine", 0.5)])
def test_decay_reaches_floor_at_the_end_of_the_budget(decay, half):
    schedule = BudgetSchedule(warmup=1, decay=decay, floor=0.1)
    assert schedule(100, progress=0.0) == pytest.approx(1.0)
    assert schedule(100, progress=0.5) == pytest.approx(0.1 + 0.9 * half)
    assert schedule(100, progress=1.0) == pytest.approx(0.1)
    assert schedule(100, progress=2.0) == pytest.approx(0.1)  # past the budget: stays at the floor


def test_cosine_shape():
    schedule = BudgetSchedule(warmup=1, decay="cosine")
    assert schedule(5, progress=0.25) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))


def test_scheduler_follows_progress_and_checkpoints_without_it():
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([param], lr=1.0)
    clock = {"p": 0.0}
    scheduler = BudgetLR(optimizer, BudgetSchedule(warmup=1, decay="linear"), lambda step: clock["p"])
    clock["p"] = 0.75
    optimizer.step()
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.25)
    state = scheduler.state_dict()
    assert "progress" not in state and "optimizer" not in state
    torch.save(state, io.BytesIO())  # picklable: no closures in the checkpoint
    assert state["schedule"] == {"warmup": 1, "decay": "linear", "floor": 0.0}
    resumed = BudgetLR(optimizer, BudgetSchedule(warmup=1), lambda step: 0.0)
    resumed.load_state_dict(state)
    assert resumed.schedule.decay == "linear" and resumed.last_epoch == scheduler.last_epoch


def test_unknown_decay_is_refused():
    with pytest.raises(ValueError, match="decay"):
        BudgetSchedule(warmup=1, decay="step")
