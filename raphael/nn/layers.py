"""Small pieces the MoE layers and the routers share: the expert FFN, the timestep embedding, one-hot, fp32 softmax,
an expert's capacity."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class FeedForward(nn.Sequential):
    """Linear-GELU-Linear."""

    def __init__(self, dim: int, hidden: int, out_dim: int | None = None):
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, out_dim or dim))


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding E'(t) (B, dim): [cos(t f_k), sin(t f_k)], f_k = max_period^(-k/half)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb


def one_hot(index: Tensor, num_classes: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """F.one_hot without its range check (a host read of min and max); index must lie in [0, num_classes)."""
    return (index.unsqueeze(-1) == torch.arange(num_classes, device=index.device)).to(dtype)


def expert_capacity(rows: int, num_experts: int, capacity_factor: float) -> int:
    """Rows an expert takes at capacity: ceil(capacity_factor * rows / num_experts), at least 1, at most `rows`."""
    return min(rows, max(1, math.ceil(capacity_factor * rows / num_experts)))


def softmax_fp32(logits: Tensor) -> Tensor:
    """Softmax in at least float32 (gates stay exact under bf16 autocast; float64 stays float64)."""
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    return logits.softmax(-1)
