"""Gradient clipping that works with every precision and strategy the trainer configs offer.

Lightning's mixed-precision plugin refuses to clip before an optimizer that unscales gradients itself
(fused AdamW, the default), and its FSDP plugin refuses norm clipping outright. Both refusals are right only
for some cases: bf16 autocast has no loss scaler, so clipping before a fused step is exact; FSDP clips
correctly through the root module's own `clip_grad_norm_` (the norm over every shard). fp16 with a
GradScaler really cannot clip before a fused step: `optimizer_for_precision` turns `fused` off there.
"""

from __future__ import annotations

import torch
from torch.distributed.fsdp import FullyShardedDataParallel


def has_loss_scaler(trainer) -> bool:
    """True where gradients are scaled until the optimizer step (fp16 mixed precision)."""
    return getattr(trainer.precision_plugin, "scaler", None) is not None


def clip_gradients(trainer, module: torch.nn.Module, optimizer, value: float | None, algorithm: str | None) -> bool:
    """Clip the gradients at `value` (norm or value); False where Lightning's own clipping should run instead
    (no clipping asked, or an fp16 loss scaler that must unscale first)."""
    if not value or has_loss_scaler(trainer):
        return False
    params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
    root = trainer.strategy.model
    if algorithm == "value":  # Lightning passes GradClipAlgorithmType, a str enum that equals "value"
        torch.nn.utils.clip_grad_value_(params, value)
    elif isinstance(root, FullyShardedDataParallel):
        root.clip_grad_norm_(value)
    else:
        torch.nn.utils.clip_grad_norm_(params, value)
    return True


def optimizer_kwargs_for_precision(trainer, clip_value: float | None) -> dict:
    """Overrides for the optimizer: a fused step cannot follow an fp16 loss scaler's unscale-then-clip."""
    return {"fused": False} if clip_value and has_loss_scaler(trainer) else {}
