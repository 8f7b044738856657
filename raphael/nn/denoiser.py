"""The network contract every denoiser implements (docs/interfaces.md, "Network").

`net(x, t, text, edge_size=None) -> DenoiserOutput(sample, aux)`: `x` (B, C, H, W), `t` long (B,) or a
scalar, `text` a TextEncoding, `edge_size` the edge logits' (H, W) (None: the edge heads do not run); `sample` has the shape of `x`; `aux` holds one BlockAux per transformer
block (routes, gate probabilities, attention maps, edge logits) and the balance losses. `net.loss_terms(out, batch, t)` names the network's own loss terms with
their weights (RAPHAEL: edge and balance). `Denoiser` gives the parts every network shares: the output record, the timestep normalisation, the size check, and the
defaults for a network without RAPHAEL blocks (`transformer_blocks() -> []`, `text_routes -> (B, L, 0)`).
Classifier-free guidance is one function for all of them (`raphael.nn.guidance`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import Tensor, nn

from .block import BlockAux
from .config import DenoiserConfig
from .text_encoder import TextEncoding


@dataclass
class DenoiserAux:
    blocks: list[BlockAux] = field(default_factory=list)
    balance_space: Tensor | None = None  # scalar: mean over space-MoE blocks (0 if none)
    balance_time: Tensor | None = None  # scalar: mean over time-MoE blocks (0 if none)
    dispatch_overflow: Tensor | None = None  # long scalar: rows dropped at capacity, all blocks (capacity mode)


class DenoiserOutput(NamedTuple):
    sample: Tensor
    aux: DenoiserAux


class LossTerm(NamedTuple):
    """One of a network's own loss terms (beside the denoising loss): `weight` None is logged, not optimised."""
    value: Tensor
    weight: float | None


class Denoiser(nn.Module):
    """Base of every network built by `raphael.nn.build_model`; subclasses implement `forward`."""

    def __init__(self, cfg: DenoiserConfig, text_dim: int) -> None:
        super().__init__()
        self.cfg, self.text_dim = cfg, text_dim
        self.in_channels = cfg.in_channels
        self.out_channels = cfg.out_channels or cfg.in_channels
        # read once: torch.compile cannot trace the config's property chain
        self.size_multiple = cfg.size_multiple  # image sides must be multiples of this (patch x 2 ** (levels - 1))

    def check_size(self, x: Tensor) -> None:
        H, W = x.shape[-2:]
        m = self.size_multiple
        if H % m or W % m:
            raise ValueError(f"image size {H}x{W} must be divisible by {m} = model.patch_size * "
                             "2**(len(model.channel_mult) - 1)")

    @staticmethod
    def timesteps(t: Tensor, x: Tensor) -> Tensor:
        """t as long (B,) on x's device (a scalar t is broadcast to the batch)."""
        t = t.to(x.device).long()
        return t.expand(x.shape[0]) if t.dim() == 0 else t

    @staticmethod
    def empty_aux(x: Tensor) -> DenoiserAux:
        zero = x.new_zeros((), dtype=torch.float32)
        return DenoiserAux(blocks=[], balance_space=zero, balance_time=zero)

    def loss_terms(self, out: DenoiserOutput, batch: dict, t: Tensor) -> dict[str, LossTerm]:
        """The network's own loss terms, named, each with its weight from the network's config
        (raphael.diffusion.DiffusionObjective adds them to the denoising loss); none by default."""
        return {}

    def transformer_blocks(self) -> list[nn.Module]:
        """The RAPHAEL transformer blocks in forward order (routing and probing read them); none by default."""
        return []

    @torch.no_grad()
    def text_routes(self, text: TextEncoding) -> Tensor:
        """(B, L, n_space_layers) space-expert routes from the text gates alone; (B, L, 0) without space-MoE."""
        B, L = text.mask.shape
        return torch.empty(B, L, 0, dtype=torch.long, device=text.mask.device)
