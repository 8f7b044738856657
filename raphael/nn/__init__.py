"""The networks: a name -> constructor registry and `build_model(cfg.model, text_dim)`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .config import EdgeConfig, GateConfig, ModelConfig, SpaceMoEConfig, TimeMoEConfig
from .denoiser import Denoiser, DenoiserAux, DenoiserOutput
from .expert_ensemble import ExpertEnsemble, apply_expert_init
from .sd_unet import SDUNet
from .unet import RaphaelUNet

MODELS: dict[str, Callable[[ModelConfig, int], Denoiser]] = {}


def register_model(name: str):
    """Decorator: MODELS[name] = constructor(model_cfg, text_dim) -> a Denoiser (raphael/nn/denoiser.py)."""

    def wrap(fn):
        MODELS[name] = fn
        return fn

    return wrap


@register_model("raphael")
def raphael_unet(cfg: ModelConfig, text_dim: int) -> Denoiser:
    if cfg.expert_scope == "denoiser":  # eDiff-I: one whole U-Net per time interval
        return ExpertEnsemble(cfg, text_dim)
    return RaphaelUNet(cfg, text_dim)


@register_model("sd_unet")
def sd_unet(cfg: ModelConfig, text_dim: int) -> Denoiser:
    """diffusers UNet2DConditionModel behind the suite's network contract (raphael/nn/sd_unet.py)."""
    return SDUNet(cfg, text_dim)


def build_model(model_cfg: Any, text_dim: int) -> Denoiser:
    """Validate the model config (dataclass, dict or DictConfig) and build MODELS[cfg.arch]."""
    cfg = ModelConfig.from_any(model_cfg).validate()
    if cfg.arch not in MODELS:
        raise ValueError(f"model.arch = {cfg.arch!r} is not allowed: one of {sorted(MODELS)} "
                         "(register a new one with raphael.nn.register_model).")
    return apply_expert_init(MODELS[cfg.arch](cfg, text_dim), cfg)  # expert_init=branch_from_checkpoint


__all__ = ["MODELS", "register_model", "build_model", "Denoiser", "DenoiserAux", "DenoiserOutput", "ModelConfig", "SpaceMoEConfig", "TimeMoEConfig",
           "GateConfig", "EdgeConfig"]
