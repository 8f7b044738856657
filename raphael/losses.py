"""The edge-supervision loss (the denoising loss is `raphael.diffusion.DenoisingLoss`)."""

from __future__ import annotations

import torch
from kornia.losses import binary_focal_loss_with_logits


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
