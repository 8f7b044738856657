"""Forward process (DDPMScheduler) and DDIM sampling over a `denoise(x, t)` callable.

The sampler knows no network class: the caller binds the network, its text and the guidance
(`raphael.nn.guidance.guided_denoiser`, cond and uncond in one batch: one network call per step).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from diffusers import DDIMScheduler, DDPMScheduler

from raphael.diffusion.guidance import SamplerSettings


def make_train_scheduler(cfg, clip_sample: bool = True) -> DDPMScheduler:
    """The forward process q(x_t | x_0) of `cfg` (the `diffusion` config group)."""
    return DDPMScheduler(
        num_train_timesteps=cfg.num_train_timesteps,
        beta_schedule=cfg.beta_schedule,
        prediction_type=cfg.prediction_type,
        clip_sample=clip_sample,
    )


def make_sample_scheduler(train_scheduler: DDPMScheduler, settings: SamplerSettings | None = None) -> DDIMScheduler:
    """DDIM with the training betas; 'trailing' spacing so the first step starts at t = T - 1. The predicted
    clean image is clipped (`settings.x0_clip`: static to [-1, 1], or Imagen's dynamic thresholding) only where
    the training scheduler clips, i.e. in pixel space: latents have no fixed range."""
    settings = settings or SamplerSettings()
    clip = settings.x0_clip if train_scheduler.config.clip_sample else "none"  # the scheduler clips in pixel space
    return DDIMScheduler.from_config(
        train_scheduler.config, timestep_spacing="trailing", set_alpha_to_one=True,
        clip_sample=clip == "static", clip_sample_range=1.0,
        thresholding=clip == "dynamic", dynamic_thresholding_ratio=settings.dynamic_ratio,
        sample_max_value=settings.dynamic_max,
    )


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
    clipped_eps: bool = False,
) -> torch.Tensor:
    """Sample `shape[0]` images. `denoise(x, t_batch) -> (model output, aux)` is the network with its text
    and guidance already bound (e.g. `raphael.nn.guidance.guided_denoiser`): the sampler knows no network.
    `on_step(t, aux)` receives each step's aux record (routing callbacks read it). `eta` scales the noise
    injected at each step (Song et al. 2021): 0 is deterministic DDIM, 1 the DDPM posterior's variance.
    `clipped_eps`: the step's noise is re-derived from the clipped x0 (GLIDE; diffusers' use_clipped_model_output),
    so x_{t-1} stays consistent with the clipped image instead of carrying the unclipped prediction's excess."""
    x = torch.randn(shape, generator=generator, device="cpu").to(device)
    scheduler.set_timesteps(steps, device=device)
    for t in scheduler.timesteps:
        t_batch = torch.full((shape[0],), int(t), device=device, dtype=torch.long)
        eps, aux = denoise(x, t_batch)
        if on_step is not None:
            on_step(t_batch, aux)
        x = scheduler.step(eps, t, x, eta=eta, generator=generator, use_clipped_model_output=clipped_eps).prev_sample
    return x
