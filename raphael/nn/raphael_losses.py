"""RAPHAEL's own loss terms beside the denoising loss: the edge-supervision focal loss and the MoE balance terms,
weighted from the network's config (`model.edge.weight`, `model.balance_coef`)."""

from __future__ import annotations

import torch
from kornia.losses import binary_focal_loss_with_logits

from .config import RaphaelUNetConfig
from .denoiser import DenoiserOutput, LossTerm


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
        per_block.append((focal.flatten(1).mean(1) * selected).sum() / selected.sum().clamp(min=1.0))
    return torch.stack(per_block).mean()


def raphael_loss_terms(cfg: RaphaelUNetConfig, out: DenoiserOutput, batch: dict, t: torch.Tensor) -> dict[str, LossTerm]:
    """edge (t < T_c, `edge.weight`), balance (space + time, `balance_coef`), and each balance term on its own
    (logged, not optimised twice)."""
    terms = {}
    edge_logits = [b.edge_logits for b in out.aux.blocks if b.edge_logits is not None]
    if cfg.edge.enabled and edge_logits:
        terms["edge"] = LossTerm(edge_loss(edge_logits, batch["edge"], t, cfg.edge.t_c), cfg.edge.weight)
    space, time = out.aux.balance_space, out.aux.balance_time
    terms["balance"] = LossTerm(space + time, cfg.balance_coef)
    terms["balance_space"], terms["balance_time"] = LossTerm(space, None), LossTerm(time, None)
    return terms
