"""The time experts' warm start (`model.time_moe.shared_until`).

A time-MoE with E experts gives each expert about 1/E of the samples; on a short budget every expert
stays under-trained. With `shared_until=f` the network starts with all timesteps on expert 0 (one FFN
that sees every sample); when the run has spent the fraction f of its budget (steps or `max_time`,
whichever ends first, as the lr schedule counts it) this callback copies expert 0 into the others,
with its AdamW moments and in the EMA copy too, and from then on the time gate routes as in the paper.
"""

from __future__ import annotations

import logging

import torch
from lightning.pytorch.callbacks import Callback, WeightAveraging

from raphael.nn.moe import TimeMoE
from raphael.optim.lr_schedule import trainer_progress

log = logging.getLogger(__name__)


def shared_time_moes(net: torch.nn.Module) -> list[TimeMoE]:
    return [m for m in net.modules() if isinstance(m, TimeMoE) and bool(m.shared)]


def copy_optimizer_state(optimizer: torch.optim.Optimizer, pairs) -> None:
    """The copy starts from its source's optimizer state (AdamW moments and step), not from zero."""
    for src, dst in pairs:
        if src in optimizer.state:
            optimizer.state[dst] = {k: v.clone() if torch.is_tensor(v) else v
                                    for k, v in optimizer.state[src].items()}


class TimeExpertWarmStart(Callback):
    """Splits the shared time expert once `model.time_moe.shared_until` of the budget is spent."""

    def __init__(self) -> None:
        self.moes: list[TimeMoE] = []

    def on_train_start(self, trainer, pl_module) -> None:
        # once, after a resume has loaded the `shared` buffers: the step hook stays free when nothing is shared
        self.moes = shared_time_moes(pl_module.net)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if not self.moes:
            return
        progress = trainer_progress(trainer)(trainer.global_step)
        if progress < float(pl_module.model_cfg.time_moe.shared_until):
            return
        for moe in self.moes:
            copy_optimizer_state(trainer.optimizers[0], moe.split())
        for callback in trainer.callbacks:
            # Lightning keeps the EMA copy in a private field; without this its experts 1..E-1 would
            # stay averages of their random initialisation
            average = getattr(callback, "_average_model", None) if isinstance(callback, WeightAveraging) else None
            if average is not None:
                for moe in shared_time_moes(average.module.net):
                    moe.split()
        log.info("time experts: expert 0 copied into the other %d at step %d (%.0f%% of the budget)",
                 self.moes[0].num_experts - 1, trainer.global_step, 100 * progress)
        self.moes = []
