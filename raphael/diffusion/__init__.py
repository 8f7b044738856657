"""Noise schedules and samplers, built on diffusers' schedulers."""

from raphael.diffusion.loss import PREDICTION_TYPES, WEIGHTINGS, DenoisingLoss
from raphael.diffusion.sampling import (
    ddim_sample,
    encode_with_uncond,
    make_sample_scheduler,
    make_train_scheduler,
)

__all__ = ["DenoisingLoss", "PREDICTION_TYPES", "WEIGHTINGS", "ddim_sample", "encode_with_uncond", "make_sample_scheduler", "make_train_scheduler"]
