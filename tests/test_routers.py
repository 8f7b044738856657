"""A router is one class and one config entry: a toy space router registered here trains through
raphael.train, and its routes reach the routing records; an unknown router name is a config error."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import compose_train
from omegaconf import open_dict
from torch import nn

from raphael.nn.moe import ImageTokenMoE
from raphael.nn.routers import ROUTERS, RouterContext, SpaceRouter, build_router, register
from raphael.run.errors import ConfigError
from raphael.run.validation import validate_config


@register("space", "test_last_expert")
class LastExpertRouter(SpaceRouter):
    """Every token to the last expert (a learnable margin over the others)."""

    def __init__(self, ctx: RouterContext):
        super().__init__(ctx)
        self.margin = nn.Parameter(torch.tensor(10.0))

    def probs(self, states: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(*states.shape[:-1], self.num_experts, device=states.device)
        return (logits + self.margin * (torch.arange(self.num_experts, device=states.device) == self.num_experts - 1)).softmax(-1)


def test_the_built_in_routers_are_registered_by_their_config_names():
    assert {"text_token"} <= set(ROUTERS["space"]) and {"token_choice", "expert_choice"} <= set(ROUTERS["image"])
    assert {"learned", "fixed_uniform", "fixed_intervals"} <= set(ROUTERS["time"])
    gate = build_router("space", "text_token", RouterContext(4, text_dim=12))
    mask = torch.tensor([[True, True, False]])
    result = gate(torch.randn(1, 3, 12), mask)
    assert result.routes[0, 2] == -1 and result.probs.shape == (1, 3, 4)


def test_an_unknown_router_is_a_config_error_that_lists_the_registered_ones():
    with pytest.raises(ConfigError, match="model.space_moe.router.*text_token"):
        validate_config(compose_train("experiment=raphael", "model.space_moe.router=nope"))


def test_a_router_registered_in_a_test_trains_and_its_routes_reach_the_routing_records(tmp_path):
    from raphael.tasks.shapes.shards import write_shapes_shards
    from raphael.training import train

    shards = tmp_path / "shapes"
    write_shapes_shards(shards, num=16, val=8, seed=0, image_size=16, shard_size=16, progress=False)
    cfg = compose_train("experiment=space_moe", "model.space_moe.router=test_last_expert",
                        f"paths.root_dir={tmp_path}", f"paths.output_dir={tmp_path / 'run'}",
                        f"data.urls={shards}/train-000000.tar", f"data.val_urls={shards}/val-000000.tar",
                        "data.generate=null", "logger=csv", "+trainer.fast_dev_run=true")
    with open_dict(cfg):
        cfg.pop("hydra")
    metrics = train(cfg)
    assert metrics["train/loss"] > 0
    load = pd.read_csv(Path(tmp_path / "run" / "routing" / "space_load.csv"))
    last = load.expert == load.expert.max()
    assert load.block.nunique() >= 1 and (load[last].fraction == 1.0).all() and (load[~last].tokens == 0).all()


def image_moe(router: str, top_k: int = 2, shared: int = 0, capacity_factor: float = 1.0) -> ImageTokenMoE:
    torch.manual_seed(0)
    ctx = RouterContext(4, noise_std=0.0, dim=8, top_k=top_k, capacity_factor=capacity_factor)
    return ImageTokenMoE(8, 4, router, ctx, ffn_mult=2, shared_experts=shared).double().eval()


def reference(moe: ImageTokenMoE, h: torch.Tensor, combine: torch.Tensor) -> torch.Tensor:
    """Every expert on every token, weighted by the plan: the naive sum the dispatch must equal."""
    out = sum(combine[..., e, None] * moe.experts[e](h) for e in range(moe.num_experts))
    return out + sum((s(h) for s in moe.shared), torch.zeros_like(h))


def test_token_choice_sends_each_token_to_its_top_k_experts_with_weights_summing_to_one():
    moe, h = image_moe("token_choice", top_k=2, shared=1), torch.randn(2, 6, 8, dtype=torch.float64)
    plan = moe.gate(h)
    assert ((plan.combine > 0).sum(-1) == 2).all()
    torch.testing.assert_close(plan.combine.sum(-1), torch.ones(2, 6, dtype=torch.float64))
    assert plan.routes.shape == (2, 6, 2) and plan.balance_loss > 0
    torch.testing.assert_close(moe(h, None, None, None).output, reference(moe, h, plan.combine))


def test_top_1_token_choice_weights_by_the_prob_so_the_router_learns():
    moe, h = image_moe("token_choice", top_k=1), torch.randn(2, 6, 8, dtype=torch.float64)
    moe(h, None, None, None).output.sum().backward()
    assert moe.gate.proj.weight.grad.abs().sum() > 0


def test_expert_choice_gives_each_expert_its_capacity_of_tokens_per_image():
    moe, h = image_moe("expert_choice", top_k=1, capacity_factor=2.0), torch.randn(2, 6, 8, dtype=torch.float64)
    plan = moe.gate(h)
    assert ((plan.combine > 0).sum(1) == 3).all()  # C = 2.0 * 1 * 6 / 4 rounded up
    torch.testing.assert_close(moe(h, None, None, None).output, reference(moe, h, plan.combine))


@pytest.mark.parametrize("router", ["token_choice", "expert_choice"])
def test_image_token_routers_train_and_their_load_reaches_the_routing_records(router, tmp_path):
    from raphael.tasks.shapes.shards import write_shapes_shards
    from raphael.training import build_module, train

    shards = tmp_path / "shapes"
    write_shapes_shards(shards, num=16, val=8, seed=0, image_size=16, shard_size=16, progress=False)
    overrides = ["experiment=space_moe", f"model.space_moe.router={router}", "model.space_moe.top_k=2",
                 "model.space_moe.shared_experts=1"]
    cfg = compose_train(*overrides, f"paths.root_dir={tmp_path}", f"paths.output_dir={tmp_path / 'run'}",
                        f"data.urls={shards}/train-000000.tar", f"data.val_urls={shards}/val-000000.tar",
                        "data.generate=null", "logger=csv", "+trainer.fast_dev_run=true")
    with open_dict(cfg):
        cfg.pop("hydra")
    assert train(cfg)["train/loss"] > 0
    load = pd.read_csv(tmp_path / "run" / "routing" / "space_load.csv")
    assert load.tokens.sum() > 0 and load.expert.nunique() == 6
    module = build_module(compose_train(*overrides))
    text = module.encode_text(["a red circle"])
    assert module.net.text_routes(text).shape[-1] == 0  # no word paths: the probe says so instead of reading noise
