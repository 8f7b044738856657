"""Forward process (DDPMScheduler) and DDIM sampling over a `denoise(x, t)` callable.

The sampler knows no network class: the caller binds the network, its text and the guidance
(`raphael.nn.guidance.guided_denoiser`, cond and uncond in one batch: one network call per step).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from diffusers import DDIMScheduler, DDPMScheduler


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


@torch.no_grad()
def ddim_sample(
    denoise: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, object]],
    shape: tuple[int, ...],
    scheduler: DDIMScheduler,
    steps: int = 25,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    on_step: Callable[[torch.Tensor, object], None] | None = None,
    eta: float = 0.0,
) -> torch.Tensor:
    """Sample `shape[0]` images. `denoise(x, t_batch) -> (model output, aux)` is the network with its text
    and guidance already bound (e.g. `raphael.nn.guidance.guided_denoiser`): the sampler knows no network.
    `on_step(t, aux)` receives each step's aux record (routing callbacks read it). `eta` scales the noise
    injected at each step (Song et al. 2021): 0 is deterministic DDIM, 1 the DDPM posterior's variance."""
    batch = shape[0]
    x = torch.randn(shape, generator=generator, device="cpu").to(device)
    scheduler.set_timesteps(steps, device=device)
    for t in scheduler.timesteps:
        t_batch = torch.full((batch,), int(t), device=device, dtype=torch.long)
        eps, aux = denoise(x, t_batch)
        if on_step is not None:
            on_step(t_batch, aux)
        x = scheduler.step(eps, t, x, eta=eta, generator=generator).prev_sample
    return x
