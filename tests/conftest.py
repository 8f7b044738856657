"""Shared fixtures: tiny configs so the whole suite stays fast on a 2-core CPU."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
torch.set_num_threads(2)

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")

# Overrides that shrink the default model, data and trainer to test size.
TINY = [
    "model.channels=8",
    "model.channel_mult=[1,2]",
    "model.transformer_depth=[1,1]",
    "model.mid_transformer_depth=1",
    "model.head_dim=8",
    "model.ffn_mult=2",
    "model.gate.hidden=8",
    "model.edge.hidden=4",
    "model.norm_groups=4",
    "diffusion.sample_steps=2",
    "callbacks.samples.num_prompts=2",
    "callbacks.samples.score_prompts=4",
    "callbacks.samples.holdout_prompts=2",
    "data.image_size=16",
    "data.batch_size=4",
    "data.num_workers=0",
]


def compose_train(*overrides: str, tiny: bool = True):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("train", overrides=[*(TINY if tiny else []), *overrides], return_hydra_config=True)


@pytest.fixture
def tiny_module():
    """A RaphaelModule with every part on, at test widths."""
    from raphael.module import RaphaelModule

    cfg = compose_train("experiment=raphael")
    return RaphaelModule(cfg.model, cfg.text_encoder, cfg.diffusion, cfg.optim, cfg.vae, image_size=16)
