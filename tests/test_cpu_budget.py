"""budget=cpu counts the training process's CPU seconds (raphael/callbacks/cpu_budget.py): a neighbour's
load, which stretches the wall clock, does not shorten a run."""

from __future__ import annotations

import time

import lightning as L
import torch
from conftest import compose_train
from lightning.pytorch.callbacks import Timer

from raphael.callbacks.cpu_budget import CpuTimeBudget
from raphael.optim.lr_schedule import trainer_progress


class _Tiny(L.LightningModule):
    def __init__(self, busy_s: float = 0.0, idle_s: float = 0.0) -> None:
        super().__init__()
        self.layer, self.busy_s, self.idle_s = torch.nn.Linear(2, 1), busy_s, idle_s

    def training_step(self, batch, batch_idx):
        time.sleep(self.idle_s)  # the wall clock runs, this process's CPU does not (a loaded machine)
        end = time.process_time() + self.busy_s
        while time.process_time() < end:  # CPU work
            pass
        return self.layer(batch[0]).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(64, 2)), batch_size=1)


def _steps(module: L.LightningModule, timer: Timer) -> int:
    trainer = L.Trainer(max_steps=20, callbacks=[timer], logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module)
    return trainer.global_step


def test_waiting_does_not_spend_the_cpu_budget():
    """0.05 s of sleep a step against a 0.4 s budget: the wall-clock Timer stops after ~8 steps, the CPU budget
    lets all 20 run; 0.05 s of CPU work a step stops both after ~8."""
    budget = {"seconds": 0.4}
    assert _steps(_Tiny(idle_s=0.05), Timer(duration=budget)) < 12
    assert _steps(_Tiny(idle_s=0.05), CpuTimeBudget(duration=budget)) == 20
    assert 6 <= _steps(_Tiny(busy_s=0.05), CpuTimeBudget(duration=budget)) < 12


def test_resume_continues_from_the_spent_cpu_seconds():
    timer = CpuTimeBudget(duration={"seconds": 100})
    timer.on_train_start(None, None)
    end = time.process_time() + 0.05
    while time.process_time() < end:
        pass
    spent = timer.time_elapsed()
    resumed = CpuTimeBudget(duration={"seconds": 100})
    resumed.load_state_dict(timer.state_dict())
    assert spent >= 0.05 and resumed.time_elapsed() >= spent and resumed.time_remaining() <= 100 - spent


def test_lr_decay_follows_the_cpu_budget():
    """The learning-rate progress reads the CPU budget like trainer.max_time's Timer."""
    timer = CpuTimeBudget(duration={"seconds": 10})
    timer._offset = 4.0  # spent in an earlier (resumed) part of the run

    class _Trainer:
        callbacks, max_steps = [timer], 10**6

    assert abs(trainer_progress(_Trainer())(0) - 0.4) < 1e-6


def test_budget_cpu_counts_cpu_seconds(tmp_path):
    cfg = compose_train("budget=cpu", f"paths.root_dir={tmp_path}")
    assert cfg.trainer.max_time is None and cfg.callbacks.cpu_budget.duration == "00:00:19:00"
    assert cfg.data.num_workers == 0  # the process's CPU time covers decoding only without worker processes
