"""A training budget counted in the training process's own CPU seconds, not wall time.

`trainer.max_time` stops on the wall clock, so on a shared machine a run's step count follows its
neighbours' load (issue 29: 2,078 steps beside other work against 3,530-3,819 alone, same arm). This
Lightning `Timer` reads `time.process_time()` instead: the CPU time of every thread of this process,
which a neighbour on another core does not consume. It counts data loading when `data.num_workers` is 0
(budget=cpu; worker processes would be outside it) and nothing before `on_train_start` (the text-state
cache, the sanity check). Being a `Timer`, the learning-rate decay (`raphael.optim.lr_schedule.trainer_progress`)
and the progress lines follow it, and a resumed run continues from the CPU seconds its checkpoint spent.
"""

from __future__ import annotations

import time

from lightning.pytorch.callbacks import Timer
from lightning.pytorch.trainer.states import RunningStage


class CpuTimeBudget(Timer):
    """Stops training when the process has spent `duration` ("DD:HH:MM:SS", a dict or a timedelta) of CPU time."""

    def on_train_start(self, trainer, pl_module) -> None:
        self._start_time[RunningStage.TRAINING] = time.process_time()

    def on_train_end(self, trainer, pl_module) -> None:
        self._end_time[RunningStage.TRAINING] = time.process_time()

    def time_elapsed(self, stage: str = RunningStage.TRAINING) -> float:
        stage = RunningStage(stage)
        if stage != RunningStage.TRAINING:  # validation/test keep Lightning's wall clock: only training is budgeted
            return super().time_elapsed(stage)
        start, end = self._start_time[stage], self._end_time[stage]
        if start is None:
            return self._offset
        return (end if end is not None else time.process_time()) - start + self._offset
