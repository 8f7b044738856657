"""Forward process (DDPMScheduler) and DDIM sampling with classifier-free guidance.

Guidance runs cond and uncond in one batch: one network call per step instead of two.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from diffusers import DDIMScheduler, DDPMScheduler

from raphael.nn.guidance import guided_eps
from raphael.nn.text_encoder import TextEncoding


def make_train_scheduler(cfg, clip_sample: bool = True) -> DDPMScheduler:
    """The forward process q(x_t | x_0) of `cfg` (the `diffusion` config group)."""
    return DDPMScheduler(
        num_train_timesteps=cfg.num_train_timesteps,
        beta_schedule=cfg.beta_schedule,
        prediction_type=cfg.prediction_type,
        clip_sample=clip_sample,
    )


def make_sample_scheduler(train_scheduler: DDPMScheduler) -> DDIMScheduler:
    """DDIM with the training betas; 'trailing' spacing so the first step starts at t = T - 1."""
    return DDIMScheduler.from_config(train_scheduler.config, timestep_spacing="trailing", set_alpha_to_one=True)


def encode_with_uncond(encoder, captions: list[str]) -> TextEncoding:
    """Encode captions followed by as many empty captions, padded to one length: rows [:B] cond, [B:] uncond."""
    return encoder(list(captions) + [""] * len(captions))


def _select(text: TextEncoding, rows: slice) -> TextEncoding:
    return TextEncoding(*(field[rows] if field is not None else None for field in text))


@torch.no_grad()
def ddim_sample(
    net: torch.nn.Module,
    text: TextEncoding,
    shape: tuple[int, ...],
    scheduler: DDIMScheduler,
    steps: int = 25,
    guidance: float = 4.5,
    generator: torch.Generator | None = None,
    edge_size: tuple[int, int] | None = None,
    on_step: Callable[[torch.Tensor, object], None] | None = None,
    two_pass: bool = False,
) -> torch.Tensor:
    """Sample `shape[0]` images. `text` holds B cond rows then B uncond rows (see `encode_with_uncond`).

    guidance == 1 runs the cond rows alone. `on_step(t, aux)` receives each step's aux record of the
    cond rows (routing callbacks read it). `two_pass=True` runs cond and uncond as two network calls,
    for benchmarking the one-batch path against.
    """
    batch = shape[0]
    device = text.states.device
    x = torch.randn(shape, generator=generator, device="cpu").to(device)
    scheduler.set_timesteps(steps, device=device)
    cond = _select(text, slice(0, batch))
    for t in scheduler.timesteps:
        t_batch = torch.full((batch,), int(t), device=device, dtype=torch.long)
        if guidance == 1.0:
            out = net(x, t_batch, cond, edge_size=edge_size)
            eps, aux = out.sample, out.aux
        elif two_pass:
            out = net(x, t_batch, cond, edge_size=edge_size)
            eps_u = net(x, t_batch, _select(text, slice(batch, 2 * batch)), edge_size=edge_size).sample
            eps, aux = eps_u + guidance * (out.sample - eps_u), out.aux
        else:
            eps, out = guided_eps(net, x, t_batch, text, guidance, edge_size=edge_size)
            aux = out.aux
        if on_step is not None:
            on_step(t_batch, aux)
        x = scheduler.step(eps, t, x, generator=generator).prev_sample
    return x
