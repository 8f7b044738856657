"""Classifier-free guidance in one place: cond and uncond rows in one batch, one network call."""

from __future__ import annotations

import torch
from torch import Tensor

from .text_encoder import TextEncoding


def guided_eps(net, x: Tensor, t: Tensor, text: TextEncoding, guidance: float,
               edge_size: tuple[int, int] | None = None):
    """eps_uncond + guidance * (eps_cond - eps_uncond) for `text` = B cond rows then B uncond rows.

    Returns (guided eps, the network's output for all 2B rows: its aux rows [:B] are the cond rows)."""
    t = t.expand(x.shape[0]) if t.dim() == 0 else t
    out = net(torch.cat([x, x]), torch.cat([t, t]), text, edge_size=edge_size)
    eps_cond, eps_uncond = out.sample.chunk(2)
    return eps_uncond + guidance * (eps_cond - eps_uncond), out


def guided_denoiser(net, text: TextEncoding, guidance: float, edge_size: tuple[int, int] | None = None):
    """The sampler's `denoise(x, t) -> (output, aux)` for `net` under classifier-free guidance: `text` holds
    B cond rows then B uncond rows (`encode_with_uncond`); guidance 1 runs the cond rows alone. The aux
    record returned is the cond rows' (routing callbacks read it)."""
    cond = text.rows(slice(0, text.states.shape[0] // 2))

    def denoise(x: Tensor, t: Tensor):
        if guidance == 1.0:
            out = net(x, t, cond, edge_size=edge_size)
            return out.sample, out.aux
        eps, out = guided_eps(net, x, t, text, guidance, edge_size=edge_size)
        return eps, out.aux

    return denoise
