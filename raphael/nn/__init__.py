"""The networks: `build_model(cfg.model, text_dim)` validates the model config and builds its `_target_`."""

from __future__ import annotations

from typing import Any

from hydra.utils import get_class

from .config import (
    DenoiserConfig,
    EdgeConfig,
    ExpertEnsembleConfig,
    GateConfig,
    RaphaelUNetConfig,
    SDUNetConfig,
    SpaceMoEConfig,
    TimeMoEConfig,
    model_config,
)
from .denoiser import Denoiser, DenoiserAux, DenoiserOutput
from .expert_ensemble import apply_expert_init


def build_model(model_cfg: Any, text_dim: int) -> Denoiser:
    """The network `model_cfg._target_` names (a config dataclass, dict or DictConfig; raphael.nn.config),
    built from its validated config and the text encoder's width."""
    cfg = model_config(model_cfg).validate()
    net = get_class(cfg._target_)(cfg, text_dim)
    if isinstance(cfg, RaphaelUNetConfig):
        net = apply_expert_init(net, cfg)  # expert_init=branch_from_checkpoint
    return net


__all__ = ["build_model", "model_config", "Denoiser", "DenoiserAux", "DenoiserOutput", "DenoiserConfig",
           "RaphaelUNetConfig", "ExpertEnsembleConfig", "SDUNetConfig", "SpaceMoEConfig", "TimeMoEConfig",
           "GateConfig", "EdgeConfig"]
