"""Edge-supervision head on a block's cross-attention map (one head per transformer block)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def pooled_attention(attn_map: Tensor, text_mask: Tensor, pooled_index: Tensor, hw: tuple[int, int],
                     source: str = "pooled", max_tokens: int = 77) -> Tensor:
    """P(M): (B, 1, h, w) for source=pooled (the pooled token's column of M), or
    (B, max_tokens, h, w) for source=all_tokens (every token a channel, padding zero).

    Columns are scaled by the number of real tokens n_y so a uniform map reads 1.0.
    """
    B, _, L = attn_map.shape
    n_y = text_mask.sum(1).clamp(min=1).to(attn_map.dtype)[:, None, None]
    if source == "pooled":
        col = attn_map.gather(2, pooled_index.view(B, 1, 1).expand(B, attn_map.shape[1], 1))
        maps = col * n_y
    elif source == "all_tokens":
        maps = attn_map * text_mask[:, None, :].to(attn_map.dtype) * n_y
        if L > max_tokens:
            raise ValueError(f"model.edge.max_tokens = {max_tokens} is smaller than the text length {L}; "
                             "set it to text_encoder.max_length")
        maps = F.pad(maps, (0, max_tokens - L))
    else:
        raise ValueError(f"model.edge.source = {source!r} is not allowed: one of ['pooled', 'all_tokens']")
    return maps.transpose(1, 2).unflatten(2, hw)  # also for B = 0 (no row supervised)


class EdgeHead(nn.Module):
    """5 conv 3x3 layers with GELU between (hidden 32), last to 1 channel of logits,
    bilinearly upsampled to edge_size.

    In training the convolutions run only on the samples the edge loss reads (t < t_c); the other rows
    of the logits are 0. That is about half the head's cost at the same loss and gradients. `select_rows=False`
    (the sync-free dispatch modes) runs every row and zeroes the others: selecting rows is a host sync."""

    def __init__(self, source: str = "pooled", hidden: int = 32, max_tokens: int = 77, num_layers: int = 5,
                 t_c: int | None = None, select_rows: bool = True):
        super().__init__()
        self.source, self.max_tokens, self.t_c, self.select_rows = source, max_tokens, t_c, select_rows
        channels = [1 if source == "pooled" else max_tokens, *[hidden] * (num_layers - 1), 1]
        convs = [nn.Conv2d(c_in, c_out, 3, padding=1) for c_in, c_out in zip(channels, channels[1:])]
        self.net = nn.Sequential(*[m for conv in convs for m in (conv, nn.GELU())][:-1])  # GELU between the convs

    def forward(self, attn_map: Tensor, text_mask: Tensor, pooled_index: Tensor, hw: tuple[int, int],
                edge_size: tuple[int, int], t: Tensor | None = None) -> Tensor:
        rows = (t < self.t_c) if self.training and self.t_c is not None and t is not None else None
        if rows is not None and self.select_rows:
            logits = self._logits(attn_map[rows], text_mask[rows], pooled_index[rows], hw, edge_size)
            return logits.new_zeros((rows.shape[0], *logits.shape[1:])).index_put((rows,), logits)
        logits = self._logits(attn_map, text_mask, pooled_index, hw, edge_size)
        return logits if rows is None else torch.where(rows.view(-1, 1, 1, 1), logits, 0.0)

    def _logits(self, attn_map: Tensor, text_mask: Tensor, pooled_index: Tensor, hw: tuple[int, int],
                edge_size: tuple[int, int]) -> Tensor:
        x = pooled_attention(attn_map, text_mask, pooled_index, hw, self.source, self.max_tokens)
        logits = self.net(x.to(self.net[0].weight.dtype))
        if tuple(logits.shape[-2:]) != tuple(edge_size):
            logits = F.interpolate(logits, size=tuple(edge_size), mode="bilinear", align_corners=False)
        return logits
