"""Model shapes, synthetic text, sampling, FLOP counting and expert-coverage helpers shared by the benchmarks."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf, open_dict
from torch.utils.flop_counter import FlopCounterMode

from raphael.diffusion.sampling import ddim_sample
from raphael.nn import build_model
from raphael.nn.config import RaphaelUNetConfig, model_config
from raphael.nn.moe import SpaceMoE, region_masks
from raphael.nn.text_encoder import TextEncoding

CONF = Path(__file__).resolve().parents[2] / "conf"
TEXT_DIM = 384  # MiniLM, the embedded default's text encoder


def compose_train_config(*overrides: str):
    """conf/train.yaml with `overrides`, composed outside a Hydra run (as `raphael.train` receives it)."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=list(overrides), return_hydra_config=True)
    with open_dict(cfg):
        cfg.pop("hydra")
    return cfg


def bench_model_config(name: str, quick: bool = False, **overrides) -> RaphaelUNetConfig:
    """`default`: conf/model/raphael.yaml. `paper`: raphael_3b's layout (3 levels x [1, 2, 4], 2 ResBlocks
    per level, transformer_depth [0, 3, 4] + mid 2 = 16 blocks, 6 space / 4 time experts, latent 4
    channels) at a small width (channels 32, head_dim 16; quick: channels 16, head_dim 8)."""
    base = OmegaConf.structured(RaphaelUNetConfig)
    if name == "paper":
        paper = OmegaConf.load(CONF / "model" / "raphael_3b.yaml")
        paper.pop("defaults", None)
        base = OmegaConf.merge(base, paper)
        base.channels, base.head_dim, base.norm_groups = (16, 8, 8) if quick else (32, 16, 8)
        base.gate.hidden = 64
        base.checkpointing = False
    elif name != "default":
        raise ValueError(f"model shape {name!r}: one of ['default', 'paper']")
    return model_config(OmegaConf.merge(base, OmegaConf.create(overrides))).validate()


def build(cfg: RaphaelUNetConfig, device: str = "cpu", seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(cfg, TEXT_DIM).to(device)


def ddim(denoise, shape: tuple[int, ...], steps: int, device: str = "cpu") -> torch.Tensor:
    """`steps` DDIM steps of `denoise` from seeded noise of `shape` (the cosine schedule, trailing spacing)."""
    scheduler = DDIMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2",
                              timestep_spacing="trailing", set_alpha_to_one=True)
    return ddim_sample(denoise, shape, scheduler, steps=steps, generator=torch.Generator().manual_seed(0),
                       device=device)


def count_flops(fn) -> int:
    """FLOPs of one call of `fn` (torch.utils.flop_counter)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def synthetic_text(batch: int, tokens: int = 40, device: str = "cpu", uncond: bool = False) -> TextEncoding:
    """Encoder-like states (B, tokens, 384) with `tokens` real tokens; with `uncond` the batch is
    followed by as many empty captions (2 real tokens: CLS, SEP), as `encode_with_uncond` builds."""
    rows = 2 * batch if uncond else batch
    states = torch.randn(rows, tokens, TEXT_DIM, generator=torch.Generator().manual_seed(0))
    mask = torch.ones(rows, tokens, dtype=torch.bool)
    if uncond:
        mask[batch:, 2:] = False
    pooled, ids = torch.zeros(rows, dtype=torch.long), torch.zeros(rows, tokens, dtype=torch.long)
    return TextEncoding(states, mask, pooled, ids).to(device)


def _route_token_i_to_expert_i(_mod, _inp, logits: torch.Tensor) -> torch.Tensor:
    """Forward hook on a space gate's FFN: its (..., L, E) logits plus a large one for expert i mod E at token i."""
    L, E = logits.shape[-2:]
    return logits + F.one_hot(torch.arange(L, device=logits.device) % E, E).to(logits.dtype) * 100.0


def force_all_experts(net: torch.nn.Module) -> list:
    """Make every space gate route token i to expert i mod E (a forward hook on the gate FFN adds a
    large logit), so that with >= E real tokens every expert is in use. Returns the hook handles."""
    return [m.gate.net.register_forward_hook(_route_token_i_to_expert_i) for m in net.modules()
            if isinstance(m, SpaceMoE)]


@torch.no_grad()
def coverage(aux, text: TextEncoding, alpha: float, num_experts: int) -> dict:
    """From a forward pass's aux: experts in use (share with >= 1 routed token, mean over blocks) and
    the share of positions each expert computes (C[..., e] > 0), mean over blocks and samples."""
    shares, used = [], []
    for blk in (b for b in aux.blocks if b.space_routes is not None):
        routes = blk.space_routes
        mhat = region_masks(blk.attn_map.float(), text.mask, alpha)
        onehot = F.one_hot(routes.clamp(min=0), num_experts).float() * (routes >= 0)[..., None]
        active = torch.einsum("bjl,ble->bje", mhat, onehot) > 0
        shares.append(active.float().mean(dim=(0, 1)))
        used.append((onehot.sum(dim=(0, 1)) > 0).float().mean())
    if not shares:
        return {"experts_used": 0.0, "position_share_per_expert": []}
    share = torch.stack(shares).mean(0)
    return {"experts_used": round(float(torch.stack(used).mean()), 4),
            "position_share_per_expert": [round(float(s), 4) for s in share],
            "position_share_mean": round(float(share.mean()), 4)}
