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

from raphael.errors import ConfigError
from raphael.nn.routers import ROUTERS, RouterContext, SpaceRouter, build_router, register
from raphael.validation import validate_config


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
    assert {"text_token"} <= set(ROUTERS["space"])
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
