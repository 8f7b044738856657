"""Time routers, one expert per sample. learned (RAPHAEL): an FFN G' on the sinusoidal embedding E'(t), softmax,
noisy argmax. fixed_uniform (ERNIE-ViLG 2.0's MoDE): [0, T) in equal consecutive blocks. fixed_intervals
(eDiff-I-like): expert e serves [b_e, b_{e+1}), the boundaries given or of equal noise mass under the DDPM linear
schedule. The fixed routers have no parameters, one-hot probs and no loss."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from raphael.nn.layers import FeedForward, softmax_fp32, timestep_embedding

from .base import GateResult, LearnedRouter, RouterContext, assigned_gate, register


def equal_noise_mass_boundaries(num_experts: int, alphas_cumprod: Tensor | None = None,
                                num_train_timesteps: int = 1000) -> list[int]:
    """Inner boundaries (num_experts - 1 ints) splitting [0, T) so that each interval holds the
    same noise mass sum_t (1 - alphas_cumprod[t]) (the noise variance of x_t). Without a schedule:
    equal-length intervals."""
    T = num_train_timesteps if alphas_cumprod is None else len(alphas_cumprod)
    if alphas_cumprod is None:
        return [round(T * e / num_experts) for e in range(1, num_experts)]
    mass = torch.cumsum((1.0 - alphas_cumprod.double()).clamp(min=0), 0)
    targets = mass[-1] * torch.arange(1, num_experts, dtype=torch.float64) / num_experts
    b = torch.searchsorted(mass, targets).tolist()
    out = [0]
    for i, x in enumerate(b):  # strictly increasing, inside (0, T)
        out.append(min(max(x + 1, out[-1] + 1), T - (num_experts - 1 - i)))
    return out[1:]


def ddpm_linear_alphas_cumprod(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> Tensor:
    """alphas_cumprod of the DDPM linear schedule (the diffusers DDPMScheduler default)."""
    betas = torch.linspace(beta_start, beta_end, T, dtype=torch.float64)
    return torch.cumprod(1.0 - betas, 0)


@register("time", "learned")
class LearnedTimeRouter(LearnedRouter):
    embed_dim = 64

    def __init__(self, ctx: RouterContext):
        super().__init__(ctx)
        self.net = FeedForward(self.embed_dim, ctx.hidden, ctx.num_experts)

    def probs(self, t: Tensor) -> Tensor:
        emb = timestep_embedding(t, self.embed_dim).to(self.net[0].weight.dtype)
        return softmax_fp32(self.net(emb))


@register("time", "fixed_uniform")
class UniformIntervalsRouter(nn.Module):
    def __init__(self, ctx: RouterContext):
        super().__init__()
        self.num_experts, self.num_train_timesteps = ctx.num_experts, ctx.num_train_timesteps

    def forward(self, t: Tensor) -> GateResult:
        routes = (t.long() * self.num_experts // self.num_train_timesteps).clamp(0, self.num_experts - 1)
        return assigned_gate(routes, self.num_experts)


@register("time", "fixed_intervals")
class IntervalsRouter(nn.Module):
    def __init__(self, ctx: RouterContext):
        super().__init__()
        self.num_experts = ctx.num_experts
        b = ([int(x) for x in ctx.boundaries] if ctx.boundaries is not None else
             equal_noise_mass_boundaries(ctx.num_experts, ddpm_linear_alphas_cumprod(ctx.num_train_timesteps)))
        self.register_buffer("boundaries", torch.tensor(b, dtype=torch.long), persistent=False)

    def forward(self, t: Tensor) -> GateResult:
        return assigned_gate(torch.bucketize(t.long(), self.boundaries.to(t.device), right=True), self.num_experts)
