"""Plain progress lines for logs (SLURM, nohup, CI), where the Rich bar draws nothing: one every N training
steps (when stdout is not a terminal), and one after every validation (always: it is one line)."""

from __future__ import annotations

import sys
import time

import lightning as L
from lightning.pytorch.callbacks import Timer

from raphael.run.summary import clock

VALIDATION_KEYS = ("val/loss", "val/denoise", "val/alignment", "val/alignment_holdout", "val/alignment_wording",
                  "val/count_right")


class LogLineProgress(L.Callback):
    """Every `every_n_steps` steps one line: step/max, loss, images/s, elapsed, ETA. Only when stdout is
    not a terminal (`always=True` prints there too)."""

    def __init__(self, every_n_steps: int = 50, always: bool = False) -> None:
        self.every_n_steps, self.always = every_n_steps, always
        self._start = self._last = None
        self._images = 0

    def _active(self, trainer) -> bool:
        return trainer.is_global_zero and (self.always or not sys.stdout.isatty())

    def on_train_start(self, trainer, pl_module) -> None:
        self._start = self._last = time.perf_counter()
        self._last_step = trainer.global_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._images += len(batch["caption"])
        step = trainer.global_step
        if not self._active(trainer) or step % self.every_n_steps or step == self._last_step:
            return
        now = time.perf_counter()
        rate = self._images / (now - self._last)
        per_step = (now - self._last) / (step - self._last_step)
        eta = (trainer.max_steps - step) * per_step if trainer.max_steps > 0 else float("inf")
        timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)  # trainer.max_time
        if timer is not None and timer.time_remaining() is not None:
            eta = min(eta, timer.time_remaining())
        loss = float(outputs["loss"]) if isinstance(outputs, dict) else float(outputs)
        print(f"[train] step {step}/{trainer.max_steps} loss {loss:.4f} {rate:.0f} img/s "
              f"{per_step:.3f} s/step elapsed {clock(now - self._start)} eta {clock(eta)}", flush=True)
        self._last, self._last_step, self._images = now, step, 0

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        metrics = trainer.callback_metrics
        parts = [f"{name} {float(metrics[name]):.4f}" for name in VALIDATION_KEYS if name in metrics]
        grid = next((c.last_grid for c in trainer.callbacks if getattr(c, "last_grid", None) is not None), None)
        print(f"[val] step {trainer.global_step}: " + " ".join(parts) + (f" grid {grid}" if grid else ""), flush=True)
