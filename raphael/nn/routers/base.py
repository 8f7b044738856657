"""The router contract, its registry and RAPHAEL's text-token router (docs/model.md, "Routers"). A router maps each row (a text token for the
space-MoE, a sample's timestep for the time-MoE) to one expert with a weight, plus the aux loss it wants, as a
`GateResult` (image routers: a `DispatchPlan`, raphael/nn/routers/image_token.py). A new router is one class registered under a config name (`model.space_moe.router`,
`model.time_moe.router`): `@register("space", "mine")` on a `SpaceRouter` (tokens in: `probs(states)`) or
`@register("time", "mine")` on a module with `forward(t) -> GateResult` (a learned one: a `LearnedRouter` with
`probs(t)`); everything downstream (dispatch, routing records, dashboards, the path probe) reads the `GateResult`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from raphael.nn.layers import FeedForward, one_hot, softmax_fp32

# space: text tokens -> experts, applied over their image regions (RAPHAEL); image: image tokens -> experts
# (DiT-MoE, EC-DiT); both fill the space-MoE slot (model.space_moe.router). time: timesteps -> experts.
ROUTERS: dict[str, dict[str, type[nn.Module]]] = {"space": {}, "image": {}, "time": {}}


class GateResult(NamedTuple):
    routes: Tensor  # long (...), -1 where masked
    probs: Tensor  # float (..., E)
    weights: Tensor  # float (...), g of the chosen expert, 0 where masked
    balance_loss: Tensor  # scalar


@dataclass
class RouterContext:
    """What a router may read from the model config, the same for every router of a kind."""
    num_experts: int
    hidden: int = 64  # model.gate: the learned routers' FFN width, routing noise in training, gradient rule
    noise_std: float = 0.01
    grad: str = "switch"
    text_dim: int = 0  # space routers: d_y of the token states
    dim: int = 0  # image routers: the image tokens' width
    top_k: int = 1  # image routers: experts per token (token choice) or on average (expert choice)
    capacity_factor: float = 1.0  # expert choice: tokens per expert = capacity_factor * top_k * tokens / experts
    num_train_timesteps: int = 1000  # time routers
    boundaries: list[int] | None = None  # time routers with hand-set intervals


def register(kind: str, name: str):
    def add(cls: type[nn.Module]) -> type[nn.Module]:
        ROUTERS[kind][name] = cls
        return cls
    return add


def build_router(kind: str, name: str, ctx: RouterContext) -> nn.Module:
    return ROUTERS[kind][name](ctx)


def route_weights(probs: Tensor, routes: Tensor, grad: str) -> Tensor:
    """Weight g of the chosen expert: switch (prob, differentiable), straight_through
    (1 forward, gradient of the prob), none (1, detached)."""
    chosen = probs.gather(-1, routes.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    if grad == "switch":
        return chosen
    if grad == "straight_through":
        return chosen - chosen.detach() + 1.0
    return torch.ones_like(chosen).detach()  # none (model.gate.grad is validated by its config)


def noisy_scores(probs: Tensor, noise_std: float, training: bool) -> Tensor:
    """What routes rank by: probs + eps (detached), eps ~ N(0, noise_std) in training only."""
    p = probs.detach()
    if training and noise_std > 0:
        p = p + torch.randn_like(p) * noise_std
    return p


def switch_balance_loss(probs: Tensor, routes: Tensor, mask: Tensor | None = None) -> Tensor:
    """Switch load-balancing loss E * sum_e f_e * P_e over the (real) items.

    probs (..., E), routes (...), mask (...) bool. f_e: fraction routed to e, P_e: mean prob.
    """
    E = probs.shape[-1]
    probs = probs.reshape(-1, E)
    routes = routes.reshape(-1)
    w = torch.ones_like(routes, dtype=probs.dtype) if mask is None else mask.reshape(-1).to(probs.dtype)
    n = w.sum().clamp(min=1.0)
    onehot = one_hot(routes.clamp(min=0), E, probs.dtype) * w[:, None]
    f = onehot.sum(0) / n
    P = (probs * w[:, None]).sum(0) / n
    return E * (f * P).sum()


def assigned_gate(routes: Tensor, num_experts: int) -> GateResult:
    """Hand-assigned routes (fixed time routers, the shared warm start): one-hot probs, weight 1, no loss."""
    ones = torch.ones(routes.shape[0], device=routes.device)
    return GateResult(routes, one_hot(routes, num_experts), ones, ones.new_zeros(()))


class LearnedRouter(nn.Module):
    """A learned gate: a subclass gives `probs(x)` (..., E); `forward(x, mask=None)` routes each row (each real token
    where a mask is given) to the argmax (noised by `gate.noise_std` in training), weights it by `gate.grad` and adds
    the switch balance loss."""

    def __init__(self, ctx: RouterContext):
        super().__init__()
        self.num_experts, self.noise_std, self.grad = ctx.num_experts, ctx.noise_std, ctx.grad

    def probs(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor, mask: Tensor | None = None) -> GateResult:
        probs = self.probs(x)
        if self.grad == "none":
            probs = probs.detach()
        routes = noisy_scores(probs, self.noise_std, self.training).argmax(dim=-1)
        if mask is None:
            return GateResult(routes, probs, route_weights(probs, routes, self.grad), switch_balance_loss(probs, routes))
        routes = routes.masked_fill(~mask, -1)
        weights = route_weights(probs, routes, self.grad) * mask
        return GateResult(routes, probs, weights, switch_balance_loss(probs, routes, mask))


SpaceRouter = LearnedRouter  # space routers subclass it under this name: tokens in, `probs(states)` (B, L, E)


@register("space", "text_token")
class TextTokenRouter(SpaceRouter):
    """RAPHAEL's space router: an FFN G on each text token's state E(y_i) alone, softmax, noisy argmax (its image
    region, the token's attention map over alpha, is the space-MoE's part: raphael.nn.moe.SpaceMoE)."""

    def __init__(self, ctx: RouterContext):
        super().__init__(ctx)
        self.net = FeedForward(ctx.text_dim, ctx.hidden, ctx.num_experts)

    def probs(self, states: Tensor) -> Tensor:
        return softmax_fp32(self.net(states))
