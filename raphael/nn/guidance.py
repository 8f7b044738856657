"""Classifier-free guidance in one place: cond and uncond rows in one batch, one network call."""

from __future__ import annotations

import torch
from torch import Tensor

from .text_encoder import TextEncoding


def guided_denoiser(net, text: TextEncoding, guidance: float):
    """The sampler's `denoise(x, t) -> (output, aux)` for `net` under classifier-free guidance: `text` holds
    B cond rows then B uncond rows (`encode_with_uncond`); guidance 1 runs the cond rows alone, any other
    weight all 2B rows in one network call (the aux record then holds the cond rows first). The edge heads
    do not run."""
    cond = text.rows(slice(0, text.states.shape[0] // 2))

    def denoise(x: Tensor, t: Tensor):
        if guidance == 1.0:
            out = net(x, t, cond)
            return out.sample, out.aux
        t = t.expand(x.shape[0]) if t.dim() == 0 else t
        out = net(torch.cat([x, x]), torch.cat([t, t]), text)
        eps_cond, eps_uncond = out.sample.chunk(2)
        return eps_uncond + guidance * (eps_cond - eps_uncond), out.aux

    return denoise
