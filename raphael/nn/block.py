"""RAPHAEL transformer block: self-attn, cross-attn (keeps M), time-MoE, space-MoE."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .attention import CrossAttention, SelfAttention
from .config import DispatchConfig, GateConfig, SpaceMoEConfig, TimeMoEConfig
from .layers import FeedForward
from .moe import ImageTokenMoE, SpaceMoE, TimeMoE
from .routers import ROUTERS, RouterContext


@dataclass
class BlockAux:
    """What one transformer block reports (docs/interfaces.md)."""

    name: str
    hw: tuple[int, int]
    space_routes: Tensor | None  # long (B, L), -1 at padding
    space_probs: Tensor | None  # float (B, L, E)
    time_routes: Tensor | None  # long (B,)
    time_probs: Tensor | None  # float (B, E_t)
    attn_map: Tensor  # float (B, h*w, L)
    edge_logits: Tensor | None = None  # float (B, 1, *edge_size)
    balance_space: Tensor | None = None  # scalar (space-MoE on)
    balance_time: Tensor | None = None  # scalar (time-MoE on)
    dispatch_overflow: Tensor | None = None  # long scalar: rows dropped at capacity (dispatch.mode=capacity)


class TransformerBlock(nn.Module):
    """Pre-norm residual block over tokens h (B, n_x, dim):

        h += SelfAttn(LN h); h += CrossAttn(LN h, E(y)) (keep M);
        h += TimeMoE(LN h, t)  [plain FFN if the time-MoE is off];
        h += SpaceMoE(LN h, E(y), M)  [skipped if the space-MoE is off].

    With both MoEs off this is a standard block with exactly one FFN. The text gate and the
    cross-attention K/V both read the raw text states (d_y).
    """

    def __init__(self, dim: int, text_dim: int, head_dim: int = 32, ffn_mult: int = 4,
                 space_moe: SpaceMoEConfig | None = None, time_moe: TimeMoEConfig | None = None,
                 gate: GateConfig | None = None, num_train_timesteps: int = 1000,
                 dispatch: DispatchConfig | None = None):
        super().__init__()
        space_moe = space_moe or SpaceMoEConfig()
        time_moe = time_moe or TimeMoEConfig()
        gate = gate or GateConfig()
        dispatch = dispatch or DispatchConfig()
        how = {"dispatch": dispatch.mode, "capacity_factor": dispatch.capacity_factor}
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.self_attn = SelfAttention(dim, head_dim)
        self.cross_attn = CrossAttention(dim, text_dim, head_dim)
        if time_moe.enabled:
            self.time_moe: TimeMoE | None = TimeMoE(
                dim, time_moe.num_experts, time_moe.router, ffn_mult, gate.hidden, gate.noise_std, gate.grad,
                num_train_timesteps, time_moe.boundaries, shared=time_moe.shared_until > 0, **how)
            self.ffn = None
        else:
            self.time_moe, self.ffn = None, FeedForward(dim, ffn_mult * dim)
        if space_moe.enabled:
            self.norm4 = nn.LayerNorm(dim)
            if space_moe.router in ROUTERS["image"]:
                ctx = RouterContext(space_moe.num_experts, gate.hidden, gate.noise_std, gate.grad, dim=dim,
                                    top_k=space_moe.top_k, capacity_factor=space_moe.capacity_factor)
                self.space_moe: SpaceMoE | ImageTokenMoE | None = ImageTokenMoE(
                    dim, space_moe.num_experts, space_moe.router, ctx, ffn_mult, space_moe.shared_experts, **how)
            else:
                self.space_moe = SpaceMoE(dim, space_moe.num_experts, space_moe.alpha, text_dim, ffn_mult, gate.hidden,
                                          gate.noise_std, gate.grad, router=space_moe.router, **how)
            self.space_moe.backend = dispatch.backend
        else:
            self.norm4, self.space_moe = None, None

    def forward(self, h: Tensor, t: Tensor, text_states: Tensor, text_mask: Tensor,
                name: str = "", hw: tuple[int, int] = (0, 0),
                text_emphasis: Tensor | None = None) -> tuple[Tensor, BlockAux]:
        h = h + self.self_attn(self.norm1(h))
        ca = self.cross_attn(self.norm2(h), text_states, text_mask, text_emphasis)
        h = h + ca.output
        aux = BlockAux(name, tuple(hw), None, None, None, None, ca.attn_map)
        if self.time_moe is not None:
            tm = self.time_moe(self.norm3(h), t)
            h = h + tm.output
            aux.time_routes, aux.time_probs, aux.balance_time = tm.routes, tm.probs, tm.balance_loss
            aux.dispatch_overflow = tm.overflow
        else:
            h = h + self.ffn(self.norm3(h))
        if self.space_moe is not None:
            sm = self.space_moe(self.norm4(h), text_states, text_mask, ca.attn_map.detach())
            h = h + sm.output
            aux.space_routes, aux.space_probs, aux.balance_space = sm.routes, sm.probs, sm.balance_loss
            if sm.overflow is not None:
                aux.dispatch_overflow = sm.overflow if aux.dispatch_overflow is None else aux.dispatch_overflow + sm.overflow
        return h, aux

    @torch.no_grad()
    def text_routes(self, text_states: Tensor, text_mask: Tensor) -> Tensor | None:
        """Routes of this block's space gate without noise (-1 at padding), or None."""
        if self.space_moe is None or not self.space_moe.routes_text:
            return None
        probs = self.space_moe.gate.probs(text_states)
        return probs.argmax(-1).masked_fill(~text_mask, -1)
