"""The networks: a name -> constructor registry and `build_model(cfg.model, text_dim)`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from .config import EdgeConfig, GateConfig, ModelConfig, SpaceMoEConfig, TimeMoEConfig

MODELS: dict[str, Callable[[ModelConfig, int], nn.Module]] = {}


def register_model(name: str):
    """Decorator: MODELS[name] = constructor(model_cfg, text_dim) -> nn.Module."""

    def wrap(fn):
        MODELS[name] = fn
        return fn

    return wrap


@register_model("raphael")
def raphael_unet(cfg: ModelConfig, text_dim: int) -> nn.Module:
    if cfg.expert_scope == "denoiser":  # eDiff-I: one whole U-Net per time interval
        from .expert_ensemble import ExpertEnsemble

        return ExpertEnsemble(cfg, text_dim)
    from .unet import RaphaelUNet

    return RaphaelUNet(cfg, text_dim)


@register_model("sd_unet")
def sd_unet(cfg: ModelConfig, text_dim: int) -> nn.Module:
    """diffusers UNet2DConditionModel behind the suite's network contract (raphael/nn/sd_unet.py)."""
    from .sd_unet import SDUNet

    return SDUNet(cfg, text_dim)


def build_model(model_cfg: Any, text_dim: int) -> nn.Module:
    """Validate the model config (dataclass, dict or DictConfig) and build MODELS[cfg.arch]."""
    cfg = ModelConfig.from_any(model_cfg).validate()
    if cfg.arch not in MODELS:
        raise ValueError(f"model.arch = {cfg.arch!r} is not allowed: one of {sorted(MODELS)} "
                         "(register a new one with raphael.nn.register_model).")
    from .expert_ensemble import apply_expert_init

    return apply_expert_init(MODELS[cfg.arch](cfg, text_dim), cfg)  # expert_init=branch_from_checkpoint


__all__ = ["MODELS", "register_model", "build_model", "ModelConfig", "SpaceMoEConfig", "TimeMoEConfig",
           "GateConfig", "EdgeConfig"]
