"""Counts the samples training used and the bad ones the data pipeline skipped, and reports both at the
end of every epoch: one console line, and `data/used_epoch`, `data/skipped_epoch`, `data/skipped_total`
to every logger (W&B, CSV). The datamodule puts `batch["skipped"]` (bad samples dropped since the
previous batch) in each batch; see docs/reliability.md.
"""

from __future__ import annotations

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_info


class DataReport(Callback):
    def __init__(self) -> None:
        self.used = self.skipped = 0  # this epoch
        self.used_total = self.skipped_total = 0

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if not isinstance(batch, dict):
            return
        self.used += len(batch.get("caption", batch.get("key", [])))
        skipped = batch.get("skipped")
        if skipped is not None:
            self.skipped += int(skipped.sum()) if hasattr(skipped, "sum") else int(skipped)

    def report(self, trainer: L.Trainer) -> None:
        if not self.used and not self.skipped:
            return
        self.used_total += self.used
        self.skipped_total += self.skipped
        rank_zero_info(f"data: epoch {trainer.current_epoch} (to step {trainer.global_step}) trained on {self.used} "
                       f"samples, skipped {self.skipped} bad samples ({self.skipped_total} skipped in all)")
        metrics = {"data/used_epoch": self.used, "data/skipped_epoch": self.skipped,
                   "data/skipped_total": self.skipped_total}
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=trainer.global_step)
        self.used = self.skipped = 0

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module) -> None:
        self.report(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module) -> None:
        self.report(trainer)  # a run stopped by max_steps mid-epoch

    def state_dict(self) -> dict:
        return {"used_total": self.used_total, "skipped_total": self.skipped_total}

    def load_state_dict(self, state_dict: dict) -> None:
        self.used_total = state_dict.get("used_total", 0)
        self.skipped_total = state_dict.get("skipped_total", 0)
