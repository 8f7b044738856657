"""Guards that stop a run cleanly when training goes wrong.

`NonFiniteLossGuard` checks the step's loss terms (the dict `module.compute_losses` returns, kept by
the module as `last_losses`) before the backward pass, and the gradients before the optimizer step:
a NaN/inf stops training with `NonFiniteLossError` naming the step and the term, before the bad
update touches the weights, so `last.ckpt` (the last good checkpoint) stays as it was.
"""

from __future__ import annotations

import math

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or inf; the message names the step and the loss term."""


def first_non_finite(losses: dict[str, torch.Tensor]) -> tuple[str, float] | None:
    """The first non-finite term, the parts before the total `loss` (which only repeats them)."""
    for name, value in sorted(losses.items(), key=lambda item: item[0] == "loss"):
        value = float(value.detach().float().sum()) if torch.is_tensor(value) else float(value)
        if not math.isfinite(value):
            return name, value
    return None


class NonFiniteLossGuard(Callback):
    def __init__(self, check_grads: bool = True) -> None:
        self.check_grads = check_grads

    def _stop(self, trainer: L.Trainer, what: str) -> None:
        ckpt = getattr(trainer.checkpoint_callback, "last_model_path", "") or "none written yet"
        raise NonFiniteLossError(
            f"non-finite {what} at step {trainer.global_step} (epoch {trainer.current_epoch}); training stopped "
            f"before this update reached the weights. The last good checkpoint is intact: {ckpt}. Lower the "
            "learning rate, check the data, or try precision=32-true, then resume with ckpt_path=last."
        )

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor) -> None:
        losses = dict(getattr(pl_module, "last_losses", None) or {})
        losses.setdefault("loss", loss)
        bad = first_non_finite(losses)
        if bad is not None:
            self._stop(trainer, f"loss term train/{bad[0]} = {bad[1]}")

    def on_before_optimizer_step(self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer) -> None:
        if not self.check_grads or str(trainer.precision).startswith("16"):
            return  # fp16 AMP: the grad scaler expects inf gradients now and then and skips those steps
        grads = [p.grad for p in pl_module.parameters() if p.grad is not None]
        # a NaN or inf anywhere makes its tensor's norm non-finite: one fused norm pass, one sync per step
        if not grads or torch.isfinite(torch.stack(torch._foreach_norm(grads))).all():
            return
        # the per-tensor look only when that fires (a finite gradient above ~1e19 overflows its norm: not an error)
        bad = [n for n, p in pl_module.named_parameters() if p.grad is not None and not p.grad.isfinite().all()]
        if bad:
            self._stop(trainer, f"gradient of {bad[0]}")
