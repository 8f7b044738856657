"""The training losses, each a small function (EDM style): the module adds them up."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from kornia.losses import binary_focal_loss_with_logits


def denoise_loss(prediction: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """||target - prediction||^2, averaged; `weight` (broadcastable to the input) reweights positions."""
    err = F.mse_loss(prediction.float(), target.float(), reduction="none")
    if weight is None:
        return err.mean()
    weight = weight.expand_as(err)
    return (err * weight).sum() / weight.sum()


def edge_loss(
    edge_logits: list[torch.Tensor], edge_target: torch.Tensor, t: torch.Tensor, t_c: int
) -> torch.Tensor:
    """Binary focal loss (alpha 0.5, gamma 2) of every block's edge logits, on samples with t < t_c only.

    Averaged over blocks and over the selected samples. Samples with t >= t_c get weight 0 rather than
    being dropped, so the edge heads stay in the graph (DDP needs every parameter to get a gradient).
    """
    selected = (t < t_c).float()
    per_block = []
    for logits in edge_logits:
        focal = binary_focal_loss_with_logits(
            logits.float(), edge_target.float(), alpha=0.5, gamma=2.0, reduction="none"
        )
        per_sample = focal.flatten(1).mean(1)
        per_block.append((per_sample * selected).sum() / selected.sum().clamp(min=1.0))
    return torch.stack(per_block).mean()
