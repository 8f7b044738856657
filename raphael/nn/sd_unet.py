"""The Stable-Diffusion-style baseline: diffusers `UNet2DConditionModel` behind the suite's network contract.

`model=sd_unet` (raphael.nn.config.SDUNetConfig). Its fields map onto the diffusers config:
channels * channel_mult -> block_out_channels; transformer_depth[i] > 0 -> CrossAttn{Down,Up}Block2D with
that many transformer layers, 0 -> plain Down/UpBlock2D; mid_transformer_depth > 0 -> the cross-attention
mid block (UNetMidBlock2DCrossAttn; 0 -> no mid block); num_res_blocks -> layers_per_block; heads = width //
head_dim (passed as diffusers' `attention_head_dim`, which, by a historical naming slip, is the number of
heads); norm_groups -> norm_num_groups; cross_attention_dim = the text encoder's d_y. The config has no MoE,
edge or expert fields (the baseline has none of them). See docs/peers.md.
"""

from __future__ import annotations

from diffusers import UNet2DConditionModel
from torch import Tensor

from .config import SDUNetConfig
from .denoiser import Denoiser, DenoiserOutput
from .text_encoder import TextEncoding


def diffusers_kwargs(cfg: SDUNetConfig, text_dim: int) -> dict:
    widths = [cfg.channels * m for m in cfg.channel_mult]
    depths = list(cfg.transformer_depth)
    down = ["CrossAttnDownBlock2D" if d else "DownBlock2D" for d in depths]
    up = ["CrossAttnUpBlock2D" if d else "UpBlock2D" for d in reversed(depths)]
    heads = [max(1, w // cfg.head_dim) for w in widths]
    mid_depth = cfg.mid_transformer_depth
    # diffusers reads the mid block's depth from transformer_layers_per_block[-1]
    layers = [max(1, d) for d in depths[:-1]] + [max(1, mid_depth if mid_depth else depths[-1])]
    return dict(
        sample_size=None,
        in_channels=cfg.in_channels,
        out_channels=cfg.out_channels or cfg.in_channels,
        down_block_types=tuple(down),
        up_block_types=tuple(up),
        mid_block_type="UNetMidBlock2DCrossAttn" if mid_depth else None,
        block_out_channels=tuple(widths),
        layers_per_block=cfg.num_res_blocks,
        cross_attention_dim=text_dim,
        attention_head_dim=tuple(heads),
        transformer_layers_per_block=tuple(layers),
        norm_num_groups=cfg.norm_groups,
    )


class SDUNet(Denoiser):
    """forward(x, t, text, edge_size) -> DenoiserOutput(sample, aux) with aux.blocks empty and zero balance
    losses; text_routes -> (B, L, 0). The padding mask is passed as diffusers' encoder_attention_mask."""

    def __init__(self, cfg: SDUNetConfig, text_dim: int):
        super().__init__(cfg, text_dim)
        self.unet = UNet2DConditionModel(**diffusers_kwargs(cfg, text_dim))

    def forward(self, x: Tensor, t: Tensor, text: TextEncoding, edge_size: tuple[int, int] | None = None):
        self.check_size(x)
        t = self.timesteps(t, x)
        sample = self.unet(x, t, encoder_hidden_states=text.states.to(x.dtype),
                           encoder_attention_mask=text.mask, return_dict=False)[0]
        return DenoiserOutput(sample, self.empty_aux(x))  # no RAPHAEL blocks: nothing to route or probe
