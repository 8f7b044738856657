"""Self-attention (fused SDPA) and cross-attention that also returns its head-averaged map."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn


def num_heads_for(dim: int, head_dim: int) -> int:
    """Heads = dim // head_dim (at least 1); dim must split evenly."""
    heads = max(1, dim // head_dim)
    if dim % heads:
        raise ValueError(f"attention width {dim} does not split into {heads} heads of head_dim={head_dim}")
    return heads


class SelfAttention(nn.Module):
    def __init__(self, dim: int, head_dim: int = 32):
        super().__init__()
        self.heads = num_heads_for(dim, head_dim)
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = rearrange(self.qkv(x), "b n (three h d) -> three b h n d", three=3, h=self.heads)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(rearrange(out, "b h n d -> b n (h d)"))


class CrossAttentionResult(NamedTuple):
    output: Tensor  # (B, n_x, dim)
    attn_map: Tensor  # (B, n_x, L): softmax(QK^T/sqrt(d)) averaged over heads, 0 at padding


class CrossAttention(nn.Module):
    """Queries from image tokens, keys/values projected from the raw text states (d_y).

    The softmax is explicit (not SDPA) because the map M is needed by the space-MoE and the
    edge head. Padding is masked out of the softmax, so every row of M sums to 1 over real tokens.
    """

    def __init__(self, dim: int, context_dim: int, head_dim: int = 32):
        super().__init__()
        self.heads = num_heads_for(dim, head_dim)
        self.scale = (dim // self.heads) ** -0.5
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_kv = nn.Linear(context_dim, 2 * dim, bias=False)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor, context: Tensor, mask: Tensor | None = None,
                emphasis: Tensor | None = None) -> CrossAttentionResult:
        """emphasis: optional float (B, L) multipliers of the logits to each text token (ERNIE-ViLG 2.0
        key-word emphasis: 1 + w_a on key words, 1 elsewhere); None costs nothing."""
        q = rearrange(self.to_q(x), "b n (h d) -> b h n d", h=self.heads)
        k, v = rearrange(self.to_kv(context), "b l (two h d) -> two b h l d", two=2, h=self.heads)
        logits = torch.matmul(q, k.transpose(-1, -2)) * self.scale  # (B, h, n_x, L)
        if emphasis is not None:
            logits = logits * emphasis[:, None, None, :].to(logits.dtype)
        if mask is not None:
            # finite fill: a sample with no real token gets a uniform row instead of NaN
            logits = logits.masked_fill(~mask[:, None, None, :], torch.finfo(logits.dtype).min)
        attn = logits.softmax(dim=-1)
        out = rearrange(torch.matmul(attn, v), "b h n d -> b n (h d)")
        return CrossAttentionResult(self.proj(out), attn.mean(dim=1))
