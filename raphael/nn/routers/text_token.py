"""RAPHAEL's space router: an FFN G on each text token's state E(y_i) alone, softmax, noisy argmax (its image
region, the token's attention map over alpha, is the space-MoE's part: raphael.nn.moe.SpaceMoE)."""

from __future__ import annotations

from torch import Tensor

from raphael.nn.layers import FeedForward, softmax_fp32

from .base import RouterContext, SpaceRouter, register


@register("space", "text_token")
class TextTokenRouter(SpaceRouter):
    def __init__(self, ctx: RouterContext):
        super().__init__(ctx)
        self.net = FeedForward(ctx.text_dim, ctx.hidden, ctx.num_experts)

    def probs(self, states: Tensor) -> Tensor:
        return softmax_fp32(self.net(states))
