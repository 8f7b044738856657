"""Noise schedules, the denoising loss, the training objective and the sampler, built on diffusers' schedulers (no network class here)."""

from raphael.diffusion.guidance import GuidanceRule, SamplerSettings
from raphael.diffusion.loss import PREDICTION_TYPES, WEIGHTINGS, DenoisingLoss, DiffusionObjective
from raphael.diffusion.sampling import ddim_sample, make_sample_scheduler, make_train_scheduler

__all__ = ["DenoisingLoss", "DiffusionObjective", "GuidanceRule", "PREDICTION_TYPES", "SamplerSettings", "WEIGHTINGS", "ddim_sample",
           "make_sample_scheduler", "make_train_scheduler"]
