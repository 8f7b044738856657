"""Classifier-free guidance in one place: cond and uncond rows in one batch, one network call."""

from __future__ import annotations

import torch
from torch import Tensor

from .text_encoder import TextEncoding


def guided_denoiser(net, text: TextEncoding, guidance):
    """The sampler's `denoise(x, t) -> (output, aux)` for `net` under classifier-free guidance: `text` holds
    B cond rows then B uncond rows (`encode_with_uncond`). `guidance` is a weight (the plain mix
    u + w (c - u)) or a rule with `weight_at(t)` and `rule(cond, uncond, x, t) -> output`
    (`raphael.diffusion.GuidanceRule`: rescale, interval). Where the weight is 1 the cond rows run alone,
    otherwise all 2B rows in one network call (the aux record then holds the cond rows first). The edge
    heads do not run."""
    cond = text.rows(slice(0, text.states.shape[0] // 2))
    weight_at = getattr(guidance, "weight_at", lambda t: guidance)
    mix = guidance if callable(guidance) else (lambda c, u, x, t: u + guidance * (c - u))

    def denoise(x: Tensor, t: Tensor):
        if weight_at(t) == 1.0:
            out = net(x, t, cond)
            return out.sample, out.aux
        t = t.expand(x.shape[0]) if t.dim() == 0 else t
        out = net(torch.cat([x, x]), torch.cat([t, t]), text)
        pred_cond, pred_uncond = out.sample.chunk(2)
        return mix(pred_cond, pred_uncond, x, t), out.aux

    return denoise
