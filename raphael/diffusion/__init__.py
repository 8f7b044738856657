"""Noise schedules and samplers, built on diffusers' schedulers."""

from raphael.diffusion.sampling import (
    ddim_sample,
    encode_with_uncond,
    make_sample_scheduler,
    make_train_scheduler,
)

__all__ = ["ddim_sample", "encode_with_uncond", "make_sample_scheduler", "make_train_scheduler"]
