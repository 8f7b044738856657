"""The default experiment's module, built from conf/ without Hydra's run machinery, and its training step."""

from __future__ import annotations

import torch
from omegaconf import OmegaConf

from raphael.benchmarks.common import CONF
from raphael.module import RaphaelModule
from raphael.nn.config import RaphaelUNetConfig


def default_module(text_encoder_path: str | None = None, **model_overrides):
    """RaphaelModule of the embedded default (RaphaelUNetConfig, MiniLM or the text encoder folder given, ddpm,
    AdamW)."""

    model = OmegaConf.merge(OmegaConf.structured(RaphaelUNetConfig), OmegaConf.create(model_overrides))
    optim = OmegaConf.merge(OmegaConf.load(CONF / "optim" / "adamw.yaml"),
                            OmegaConf.load(CONF / "budget" / "small.yaml").optim)
    text_encoder = OmegaConf.load(CONF / "text_encoder" / "minilm.yaml")
    text_encoder.path = text_encoder_path
    return RaphaelModule(model=model, text_encoder=text_encoder,
                         diffusion=OmegaConf.load(CONF / "diffusion" / "ddpm.yaml"), optim=optim,
                         image_size=32, seed=0)


def synthetic_batch(batch_size: int, device: str = "cpu", side: int = 32) -> dict:
    g = torch.Generator().manual_seed(0)
    captions = [f"a {c} {s} left of a {c2} {s2}" for c, s, c2, s2 in
                zip(["red", "blue", "green", "yellow"] * batch_size, ["circle", "square", "triangle"] * batch_size,
                    ["purple", "orange"] * batch_size, ["square", "circle", "triangle"] * batch_size)][:batch_size]
    return {"image": (torch.rand(batch_size, 3, side, side, generator=g) * 2 - 1).to(device),
            "edge": (torch.rand(batch_size, 1, side, side, generator=g) > 0.8).float().to(device),
            "caption": captions, "key": [str(i) for i in range(batch_size)], "meta": [{}] * batch_size}


def train_step_fn(module, batch: dict, precision: str = "32"):
    """fwd + bwd + AdamW of `module.training_step` (what Lightning's automatic optimisation runs)."""
    opt = module.configure_optimizers()["optimizer"]
    device_type = batch["image"].device.type

    def step():
        module.train()
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = module.training_step(batch, 0)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step
