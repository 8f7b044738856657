"""Routers over image tokens, for the space-MoE slot at matched experts (`model.space_moe.router`): today's
MoE-diffusion routers beside RAPHAEL's text-token router. token_choice (DiT-MoE): each token takes its top-k
experts by softmax(W h), weights renormalised over the k (k = 1: the prob itself, as Switch), a switch load-balance loss over the k choices.
expert_choice (EC-DiT): each expert takes its top-C tokens of each image, C = capacity_factor * top_k * N / E,
weighted by the token's score; balanced by construction, no loss. **Decision:** expert choice picks within each
image, not across the batch, so a sample never depends on the other samples of its batch (classifier-free
guidance doubles the batch)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from raphael.nn.layers import expert_capacity, one_hot, softmax_fp32

from .base import RouterContext, noisy_scores, register


class DispatchPlan(NamedTuple):
    combine: Tensor  # float (B, N, E): weight of expert e on token j, 0 = not sent
    routes: Tensor  # long (B, N, k): the experts a token goes to, -1 = none
    probs: Tensor  # float (B, N, E): the router's scores
    balance_loss: Tensor  # scalar


class ImageTokenRouter(nn.Module):
    def __init__(self, ctx: RouterContext):
        super().__init__()
        self.num_experts, self.top_k, self.noise_std = ctx.num_experts, min(ctx.top_k, ctx.num_experts), ctx.noise_std
        self.capacity_factor = ctx.capacity_factor
        self.proj = nn.Linear(ctx.dim, ctx.num_experts, bias=False)

    def scores(self, h: Tensor) -> tuple[Tensor, Tensor]:
        """(probs, the probs to rank by: noised in training, as the text-token router's argmax is)."""
        probs = softmax_fp32(self.proj(h))
        return probs, noisy_scores(probs, self.noise_std, self.training)


@register("image", "token_choice")
class TokenChoiceRouter(ImageTokenRouter):
    def forward(self, h: Tensor) -> DispatchPlan:
        probs, rank = self.scores(h)
        routes = rank.topk(self.top_k, dim=-1).indices  # (B, N, k)
        chosen = probs.gather(-1, routes)
        weights = chosen / chosen.sum(-1, keepdim=True) if self.top_k > 1 else chosen  # top-1: the prob (Switch)
        combine = torch.zeros_like(probs).scatter(-1, routes, weights)
        share = one_hot(routes, self.num_experts).mean((0, 1, 2))  # f_e over the (token, choice) pairs
        loss = self.num_experts * (share * probs.mean((0, 1))).sum()
        return DispatchPlan(combine, routes, probs, loss)


@register("image", "expert_choice")
class ExpertChoiceRouter(ImageTokenRouter):
    def forward(self, h: Tensor) -> DispatchPlan:
        probs, rank = self.scores(h)
        capacity = expert_capacity(h.shape[1], self.num_experts, self.capacity_factor * self.top_k)
        picked = rank.topk(capacity, dim=1).indices  # (B, C, E): the tokens each expert takes
        taken = torch.zeros_like(probs).scatter(1, picked, 1.0)
        experts = torch.arange(self.num_experts, device=h.device).expand_as(taken)
        return DispatchPlan(probs * taken, torch.where(taken.bool(), experts, -1), probs, probs.new_zeros(()))
