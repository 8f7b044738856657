"""Counts the samples training used and the bad ones the data pipeline skipped, and reports both at the
end of every epoch: one console line, and `data/used_epoch`, `data/skipped_epoch`, `data/skipped_total`
to every logger (W&B, CSV). The datamodule puts `batch["skipped"]` (bad items dropped since the previous
batch) and `batch["bad"]` ("shard#key" of each) in each batch; a bad sample met again when its shard is
resampled counts once, and the report says how often each bad shard was met (docs/reliability.md).
Every count is in the checkpoint: a resumed run reports what the uninterrupted one would.
"""

from __future__ import annotations

from collections import Counter

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_info


class DataReport(Callback):
    COUNTS = ("used", "skipped", "used_total", "skipped_total")  # in the checkpoint with the bad items

    def __init__(self) -> None:
        self.used = self.skipped = 0  # this epoch (distinct bad items first met this epoch)
        self.used_total = self.skipped_total = 0
        self.seen_bad: set[str] = set()
        self.shard_meets: Counter[str] = Counter()  # bad shard -> bad items met in it, repeats included

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if not isinstance(batch, dict):
            return
        self.used += len(batch.get("caption", batch.get("key", [])))
        bad = batch.get("bad")
        if bad is not None:
            for item in bad:
                self.shard_meets[item.split("#", 1)[0]] += 1
                if item not in self.seen_bad:
                    self.seen_bad.add(item)
                    self.skipped += 1
            return
        skipped = batch.get("skipped")  # a datamodule that only counts
        if skipped is not None:
            self.skipped += int(skipped.sum()) if hasattr(skipped, "sum") else int(skipped)

    def report(self, trainer: L.Trainer) -> None:
        if not self.used and not self.skipped:
            return
        self.used_total += self.used
        self.skipped_total += self.skipped
        shards = ", ".join(f"{shard} ({n}x)" for shard, n in self.shard_meets.most_common(5))
        rank_zero_info(f"data: epoch {trainer.current_epoch} (to step {trainer.global_step}) trained on {self.used} "
                       f"samples, skipped {self.skipped} bad samples ({self.skipped_total} distinct in all"
                       + (f"; bad items met per shard: {shards}" if shards else "") + ")")
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
        return {**{k: getattr(self, k) for k in self.COUNTS}, "seen_bad": sorted(self.seen_bad),
                "shard_meets": dict(self.shard_meets)}

    def load_state_dict(self, state_dict: dict) -> None:
        for k in self.COUNTS:
            setattr(self, k, state_dict.get(k, 0))
        self.seen_bad = set(state_dict.get("seen_bad", []))
        self.shard_meets = Counter(state_dict.get("shard_meets", {}))
