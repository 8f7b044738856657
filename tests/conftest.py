"""Shared fixtures: tiny configs so the whole suite stays fast on a 2-core CPU."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

import raphael.nn.config  # noqa: F401 - stores the model schemas in Hydra's ConfigStore (conf/model/*.yaml)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
torch.set_num_threads(2)

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")

# The test size: conf/debug/default.yaml (tiny widths, 16x16 images, a few steps), composed last.
TINY = ["debug=default"]
# The EMA weight average, for tests of it (budget=small and budget=cpu run without): conf/callbacks/default.yaml's
# node as an override, its decay still ${optim.ema_decay}.
def _override_value(node) -> str:
    """A config node in Hydra's override grammar (dict keys bare, strings quoted)."""
    if isinstance(node, dict):
        return "{" + ", ".join(f"{key}: {_override_value(value)}" for key, value in node.items()) + "}"
    return f"'{node}'" if isinstance(node, str) else str(node)


EMA_ON = "callbacks.ema=" + _override_value(OmegaConf.to_container(
    OmegaConf.load(Path(CONF_DIR) / "callbacks" / "default.yaml").ema, resolve=False))


def compose_train(*overrides: str, tiny: bool = True):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("train", overrides=[*(TINY if tiny else []), *overrides], return_hydra_config=True)


def concat_text(*texts):
    """TextEncodings stacked along the batch, right-padded to the longest (as one encoder call pads its
    captions): padding has zero states, mask False, id 0."""
    from raphael.nn.text_encoder import TextEncoding

    L = max(t.states.shape[1] for t in texts)

    def pad(x):
        return torch.cat([x, x.new_zeros((x.shape[0], L - x.shape[1], *x.shape[2:]))], 1)

    return TextEncoding(torch.cat([pad(t.states) for t in texts]), torch.cat([pad(t.mask) for t in texts]),
                        torch.cat([t.pooled_index for t in texts]), torch.cat([pad(t.input_ids) for t in texts]))


@pytest.fixture
def tiny_module():
    """A RaphaelModule with every part on, at test widths."""
    from raphael.module import RaphaelModule

    cfg = compose_train("experiment=raphael")
    return RaphaelModule(cfg.model, cfg.text_encoder, cfg.diffusion, cfg.optim, cfg.vae, image_size=16)
