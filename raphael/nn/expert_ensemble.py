"""Whole-denoiser time experts (eDiff-I) and expert initialisation from a trained checkpoint.

`model=expert_ensemble` (ExpertEnsembleConfig): one full U-Net per time interval, all reading the same (frozen) text
encoding; the hand-assigned time router of `model.time_moe` (fixed_uniform | fixed_intervals) sends
each sample to the U-Net of its interval, and the experts' aux records are merged back into batch
order. `model.expert_init=branch_from_checkpoint` copies a trained model (`model.expert_init_ckpt`)
into every expert before fine-tuning (eDiff-I's recipe); it works for every scope: per-block FFN
experts are branched from the base model's FFN, a denoiser ensemble from the whole base U-Net.
See docs/peers.md.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import torch
from torch import Tensor, nn

from .config import ExpertEnsembleConfig, RaphaelUNetConfig
from .denoiser import Denoiser, DenoiserOutput, LossTerm
from .raphael_losses import raphael_loss_terms
from .routers import RouterContext, build_router
from .text_encoder import TextEncoding
from .unet import RaphaelUNet


def select_text(text: TextEncoding, rows: Tensor) -> TextEncoding:
    """The rows `rows` of every field (None fields stay None)."""
    return TextEncoding(*(f.index_select(0, rows) if f is not None else None for f in text))


def _scatter_rows(parts: list[tuple[Tensor, Tensor]], batch: int) -> Tensor:
    """Rebuild a (batch, ...) tensor from (rows, values) pairs; rows not covered stay 0."""
    idx0, val0 = parts[0]
    full = val0.new_zeros((batch, *val0.shape[1:]))
    for rows, values in parts:
        full = full.index_copy(0, rows, values)
    return full


class ExpertEnsemble(Denoiser):
    """`time_moe.num_experts` whole U-Nets (the per-block time-MoE off inside them); the sample of
    timestep t is denoised by expert `router(t)` alone. Same network contract as RaphaelUNet."""

    def __init__(self, cfg: ExpertEnsembleConfig, text_dim: int):
        super().__init__(cfg, text_dim)
        tm = cfg.time_moe
        self.router = build_router("time", tm.router, RouterContext(tm.num_experts, num_train_timesteps=cfg.num_train_timesteps,
                                                                    boundaries=tm.boundaries))
        shared = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(RaphaelUNetConfig) if f.name != "_target_"}
        inner = RaphaelUNetConfig(**{**shared, "expert_init": "from_scratch", "expert_init_ckpt": None,
                                     "time_moe": dataclasses.replace(tm, enabled=False)})
        self.experts = nn.ModuleList([RaphaelUNet(inner, text_dim) for _ in range(tm.num_experts)])

    def loss_terms(self, out: DenoiserOutput, batch: dict, t: Tensor) -> dict[str, LossTerm]:
        return raphael_loss_terms(self.cfg, out, batch, t)

    def transformer_blocks(self) -> list[nn.Module]:
        """Every expert's transformer blocks, expert after expert."""
        return [blk for e in self.experts for blk in e.transformer_blocks()]

    def forward(self, x: Tensor, t: Tensor, text: TextEncoding, edge_size: tuple[int, int] | None = None):
        B = x.shape[0]
        t = self.timesteps(t, x)
        routes = self.router(t).routes
        order = torch.argsort(routes, stable=True)
        counts = torch.bincount(routes, minlength=len(self.experts)).tolist()
        outs = [(idx, self.experts[e](x.index_select(0, idx), t.index_select(0, idx),
                                      select_text(text, idx), edge_size))
                for e, idx in enumerate(order.split(counts)) if len(idx)]
        sample = _scatter_rows([(idx, o.sample) for idx, o in outs], B)
        aux = self.empty_aux(x)  # no time balance loss: the router is hand-assigned
        for k, first in enumerate(outs[0][1].aux.blocks):
            merged = dataclasses.replace(first)
            for f in ("space_routes", "space_probs", "attn_map", "edge_logits"):
                if getattr(first, f) is not None:
                    setattr(merged, f, _scatter_rows([(idx, getattr(o.aux.blocks[k], f)) for idx, o in outs], B))
            if first.balance_space is not None:  # sample-weighted mean over the experts that ran
                merged.balance_space = sum(o.aux.blocks[k].balance_space * len(idx) for idx, o in outs) / B
            merged.time_routes = routes
            merged.time_probs = nn.functional.one_hot(routes, len(self.experts)).float()
            merged.balance_time = aux.balance_time
            aux.blocks.append(merged)
        aux.balance_space = sum(o.aux.balance_space * len(idx) for idx, o in outs) / B
        return DenoiserOutput(sample, aux)

    @torch.no_grad()
    def text_routes(self, text: TextEncoding) -> Tensor:
        """(B, L, n_space_layers * num_experts): every expert's space routes, expert after expert
        (the order of `transformer_blocks()`)."""
        return torch.cat([e.text_routes(text) for e in self.experts], dim=-1)


# ----------------------------------------------------------------------------- branching
def load_net_state(ckpt: str) -> dict[str, Tensor]:
    """The network weights of a raphael.train checkpoint (its `state_dict`, i.e. the EMA weights),
    without the `net.` prefix. A bare state dict (torch.save(net.state_dict())) also works."""
    if not Path(ckpt).is_file():
        raise FileNotFoundError(
            f"model.expert_init_ckpt={ckpt!r} is not a file: expert_init=branch_from_checkpoint needs a trained "
            "base checkpoint (e.g. outputs/train/baseline/<date>/checkpoints/last.ckpt).")
    obj = torch.load(ckpt, map_location="cpu", weights_only=False)
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else obj
    if any(k.startswith("net.") for k in state):
        state = {k[4:]: v for k, v in state.items() if k.startswith("net.")}
    return state


def _source_keys(key: str) -> list[str]:
    """Keys of a base model that can initialise `key` of the target, most specific first."""
    cands = [key]
    if m := re.match(r"experts\.\d+\.(.*)", key):  # denoiser expert e <- the whole base U-Net
        cands.append(m.group(1))
    for k in list(cands):  # per-block time expert e <- the base block's plain FFN
        cands.append(re.sub(r"\.time_moe\.experts\.\d+\.", ".ffn.", k))
    return list(dict.fromkeys(cands))


def branch_from_state(net: nn.Module, base: dict[str, Tensor]) -> dict:
    """Copy `base` into `net` (every expert gets the same weights). Returns a report: how many tensors
    were copied and which target tensors kept their fresh initialisation (e.g. gates the base lacks)."""
    new, fresh, used = {}, [], set()
    for key, value in net.state_dict().items():
        src = next((k for k in _source_keys(key) if k in base and base[k].shape == value.shape), None)
        if src is None:
            fresh.append(key)
        else:
            new[key] = base[src].to(value.dtype)
            used.add(src)
    if not new:
        raise ValueError("model.expert_init=branch_from_checkpoint: no tensor of the base checkpoint fits this "
                         "model (a different architecture or width?).")
    net.load_state_dict(new, strict=False)
    return {"copied": len(new), "fresh": fresh, "unused": sorted(set(base) - used)}


def apply_expert_init(net: nn.Module, cfg: RaphaelUNetConfig) -> nn.Module:
    if cfg.expert_init == "branch_from_checkpoint":
        net.branch_report = branch_from_state(net, load_net_state(str(cfg.expert_init_ckpt)))
    return net
