"""The learning-rate multiplier: linear warm-up, then an optional decay over the training budget.

A run's budget is steps (`trainer.max_steps`) or time (`trainer.max_time`, budget=cpu), whichever ends
first; `progress()` returns the larger of the two fractions used, so a time-bounded run decays to its
floor when its time runs out, whatever its step rate. Short budgets gain most from decaying to zero
at the end (experiments/recipe/lr_decay/).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from torch.optim.lr_scheduler import LRScheduler

DECAYS = ("none", "linear", "cosine")


class BudgetSchedule:
    """multiplier(step, progress): warm-up to 1 over `warmup` steps, then `decay` from 1 to `floor` as progress 0 -> 1."""

    def __init__(self, warmup: int, decay: str = "none", floor: float = 0.0) -> None:
        if decay not in DECAYS:
            raise ValueError(f"decay={decay!r}: expected one of {DECAYS}")
        self.warmup = max(1, int(warmup))
        self.decay = decay
        self.floor = float(floor)

    def __call__(self, step: int, progress: float = 0.0) -> float:
        warm = min(1.0, (step + 1) / self.warmup)
        if self.decay == "none":
            return warm
        p = min(1.0, max(0.0, progress))
        shape = 1.0 - p if self.decay == "linear" else 0.5 * (1.0 + math.cos(math.pi * p))
        return warm * (self.floor + (1.0 - self.floor) * shape)


class BudgetLR(LRScheduler):
    """Sets every group's lr to base_lr * schedule(step, progress(step)); `progress` stays out of checkpoints."""

    def __init__(self, optimizer, schedule: BudgetSchedule, progress: Callable[[int], float] | None = None) -> None:
        self.schedule = schedule
        self.progress = progress or (lambda step: 0.0)
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        factor = self.schedule(self.last_epoch, self.progress(self.last_epoch))
        return [base * factor for base in self.base_lrs]

    def state_dict(self) -> dict:  # plain values only: the checkpoint holds no raphael objects
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "progress", "schedule")}
        return {**state, "schedule": dict(vars(self.schedule))}

    def load_state_dict(self, state_dict: dict) -> None:
        state = dict(state_dict)
        vars(self.schedule).update(state.pop("schedule", {}))
        self.__dict__.update(state)


def trainer_progress(trainer) -> Callable[[int], float]:
    """progress(step) = max(step / max_steps, elapsed / max_time) for a Lightning trainer."""
    from lightning.pytorch.callbacks import Timer

    timers = [c for c in trainer.callbacks if isinstance(c, Timer)]

    def progress(step: int) -> float:
        by_steps = step / trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else 0.0
        by_time = 0.0
        if timers:
            elapsed = timers[0].time_elapsed("train")
            remaining = timers[0].time_remaining("train")
            if remaining is not None and elapsed + remaining > 0:
                by_time = elapsed / (elapsed + remaining)
        return max(by_steps, by_time)

    return progress
