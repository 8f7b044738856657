"""RaphaelUNet: a conv U-Net whose levels carry RAPHAEL transformer blocks (docs/model.md)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .block import BlockAux, TransformerBlock
from .config import RaphaelUNetConfig
from .denoiser import Denoiser, DenoiserAux, DenoiserOutput, LossTerm
from .edge_head import EdgeHead
from .layers import timestep_embedding
from .raphael_losses import raphael_loss_terms
from .text_encoder import TextEncoding


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv, + timestep embedding, GroupNorm-SiLU-conv, residual (1x1 if widths differ)."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, groups: int = 8):
        super().__init__()
        self.norm1 = nn.GroupNorm(min(groups, in_ch), in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb = nn.Linear(emb_dim, out_ch)
        self.norm2 = nn.GroupNorm(min(groups, out_ch), out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class Downsample(nn.Conv2d):
    def __init__(self, ch: int):
        super().__init__(ch, ch, 3, stride=2, padding=1)


class Upsample(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class SpatialTransformer(nn.Module):
    """A TransformerBlock on the flattened feature map, plus its edge head."""

    def __init__(self, name: str, block: TransformerBlock, edge_head: EdgeHead | None):
        super().__init__()
        self.name, self.block, self.edge_head = name, block, edge_head

    def forward(self, x: Tensor, t: Tensor, text: TextEncoding,
                edge_size: tuple[int, int] | None) -> tuple[Tensor, BlockAux]:
        B, C, H, W = x.shape
        h, aux = self.block(rearrange(x, "b c h w -> b (h w) c"), t, text.states, text.mask, self.name, (H, W),
                            text.text_emphasis)
        if self.edge_head is not None and edge_size is not None:
            aux.edge_logits = self.edge_head(aux.attn_map, text.mask, text.pooled_index, (H, W), edge_size, t)
        return rearrange(h, "b (h w) c -> b c h w", h=H, w=W), aux


def layer_kind(layer: nn.Module) -> str:
    """How the U-Net calls a layer: `transformer` (x, t, text, edge_size), `res` (x, emb) or `plain` (x)."""
    if isinstance(layer, SpatialTransformer):
        return "transformer"
    return "res" if isinstance(layer, ResBlock) else "plain"


class RaphaelUNet(Denoiser):
    def __init__(self, cfg: RaphaelUNetConfig, text_dim: int):
        super().__init__(cfg, text_dim)
        self.checkpointing = cfg.checkpointing
        ch, g = cfg.channels, cfg.norm_groups
        emb_dim = 4 * ch
        self.time_embed = nn.Sequential(nn.Linear(ch, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))

        def transformers(prefix: str, dim: int, depth: int) -> list[nn.Module]:
            out = []
            for k in range(depth):
                block = TransformerBlock(dim, text_dim, cfg.head_dim, cfg.ffn_mult, cfg.space_moe, cfg.time_moe,
                                         cfg.gate, cfg.num_train_timesteps, cfg.dispatch)
                head = (EdgeHead(cfg.edge.source, cfg.edge.hidden, cfg.edge.max_tokens, t_c=cfg.edge.t_c,
                                 select_rows=cfg.dispatch.mode == "exact")
                        if cfg.edge.enabled else None)
                out.append(SpatialTransformer(f"{prefix}.{k}", block, head))
            return out

        # down path: a skip is pushed after every stage
        self.patch = cfg.patch_size
        self.stem = nn.Conv2d(cfg.in_channels * self.patch**2, ch, 3, padding=1)
        self.down = nn.ModuleList()
        skip_ch, cur = [ch], ch
        n = len(cfg.channel_mult)
        for i, mult in enumerate(cfg.channel_mult):
            out = ch * mult
            for r in range(cfg.num_res_blocks):
                stage: list[nn.Module] = [ResBlock(cur, out, emb_dim, g)]
                if r == cfg.num_res_blocks - 1:
                    stage += transformers(f"down{i}", out, cfg.transformer_depth[i])
                self.down.append(nn.ModuleList(stage))
                cur = out
                skip_ch.append(cur)
            if i < n - 1:
                self.down.append(nn.ModuleList([Downsample(cur)]))
                skip_ch.append(cur)
        self.mid = nn.ModuleList([ResBlock(cur, cur, emb_dim, g), *transformers("mid", cur, cfg.mid_transformer_depth),
                                  ResBlock(cur, cur, emb_dim, g)])
        # up path: every stage pops a skip
        self.up = nn.ModuleList()
        for i in reversed(range(n)):
            out = ch * cfg.channel_mult[i]
            for r in range(cfg.num_res_blocks + 1):
                stage = [ResBlock(cur + skip_ch.pop(), out, emb_dim, g)]
                cur = out
                if r == cfg.num_res_blocks:
                    stage += transformers(f"up{i}", out, cfg.transformer_depth[i])
                    if i > 0:
                        stage.append(Upsample(cur))
                self.up.append(nn.ModuleList(stage))
        self.out = nn.Sequential(nn.GroupNorm(min(g, cur), cur), nn.SiLU(),
                                 nn.Conv2d(cur, self.out_channels * self.patch**2, 3, padding=1))
        # each layer's kind, by position, recorded once here: FSDP, checkpoint and compile wrappers replace a
        # module (and its type) in place but keep its call signature, so forward never asks isinstance
        self.down_kinds = [[layer_kind(m) for m in stage] for stage in self.down]
        self.mid_kinds = [layer_kind(m) for m in self.mid]
        self.up_kinds = [[layer_kind(m) for m in stage] for stage in self.up]
        self.initialize_weights()

    # ------------------------------------------------------------------ setup
    def initialize_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def layers(self) -> list[tuple[nn.Module, str]]:
        """(layer, kind) of every layer in forward order (down, mid, up)."""
        down = [lk for stage, kinds in zip(self.down, self.down_kinds) for lk in zip(stage, kinds)]
        up = [lk for stage, kinds in zip(self.up, self.up_kinds) for lk in zip(stage, kinds)]
        return [*down, *zip(self.mid, self.mid_kinds), *up]

    def loss_terms(self, out: DenoiserOutput, batch: dict, t: Tensor) -> dict[str, LossTerm]:
        return raphael_loss_terms(self.cfg, out, batch, t)

    def transformer_blocks(self) -> list[SpatialTransformer]:
        """All transformer blocks in forward order (down, mid, up); wrapped ones as their wrappers."""
        return [m for m, kind in self.layers() if kind == "transformer"]

    # ------------------------------------------------------------------ forward
    def _run(self, layer: nn.Module, kind: str, x: Tensor, emb: Tensor, t: Tensor, text: TextEncoding,
             edge_size, aux: DenoiserAux) -> Tensor:
        ckpt = self.checkpointing and self.training and torch.is_grad_enabled()
        if kind == "transformer":
            if ckpt:
                x, block_aux = checkpoint(layer, x, t, text, edge_size, use_reentrant=False)
            else:
                x, block_aux = layer(x, t, text, edge_size)
            aux.blocks.append(block_aux)
            return x
        if kind == "res":
            return checkpoint(layer, x, emb, use_reentrant=False) if ckpt else layer(x, emb)
        return layer(x)

    def forward(self, x: Tensor, t: Tensor, text: TextEncoding,
                edge_size: tuple[int, int] | None = None) -> DenoiserOutput:
        self.check_size(x)
        t = self.timesteps(t, x)
        emb = self.time_embed(timestep_embedding(t, self.cfg.channels).to(x.dtype))
        aux = DenoiserAux()
        h = self.stem(F.pixel_unshuffle(x, self.patch) if self.patch > 1 else x)
        skips = [h]
        for stage, kinds in zip(self.down, self.down_kinds):
            for layer, kind in zip(stage, kinds):
                h = self._run(layer, kind, h, emb, t, text, edge_size, aux)
            skips.append(h)
        for layer, kind in zip(self.mid, self.mid_kinds):
            h = self._run(layer, kind, h, emb, t, text, edge_size, aux)
        for stage, kinds in zip(self.up, self.up_kinds):
            h = torch.cat([h, skips.pop()], dim=1)
            for layer, kind in zip(stage, kinds):
                h = self._run(layer, kind, h, emb, t, text, edge_size, aux)
        zero = x.new_zeros((), dtype=torch.float32)  # the balance loss of a network without that MoE
        bs = [b.balance_space for b in aux.blocks if b.balance_space is not None]
        bt = [b.balance_time for b in aux.blocks if b.balance_time is not None]
        aux.balance_space = torch.stack(bs).mean() if bs else zero
        aux.balance_time = torch.stack(bt).mean() if bt else zero
        overflow = [b.dispatch_overflow for b in aux.blocks if b.dispatch_overflow is not None]
        aux.dispatch_overflow = torch.stack(overflow).sum() if overflow else None
        out = self.out(h)
        return DenoiserOutput(F.pixel_shuffle(out, self.patch) if self.patch > 1 else out, aux)

    @torch.no_grad()
    def text_routes(self, text: TextEncoding) -> Tensor:
        """(B, L, n_space_layers): the routes of every space-MoE layer from the gates alone
        (no noise), -1 at padding, in forward order."""
        routes = [r for blk in self.transformer_blocks()
                  if (r := blk.block.text_routes(text.states, text.mask)) is not None]
        return torch.stack(routes, dim=-1) if routes else super().text_routes(text)  # none: (B, L, 0)
