"""Every experiment composes and trains: one fast_dev_run each through raphael.train.train, tiny widths."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import compose_train
from omegaconf import open_dict

EXPERIMENTS = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "conf" / "experiment").glob("*.yaml"))


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    from raphael.data.shards import write_shapes_shards

    out = tmp_path_factory.mktemp("shapes")
    write_shapes_shards(out, num=32, val=8, seed=0, image_size=16, shard_size=16, progress=False)
    return out


def test_the_five_paper_ablations_are_experiments():
    assert {"baseline", "space_moe", "time_moe", "edge", "raphael"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("experiment", EXPERIMENTS)  # every conf/experiment/*.yaml, the peers included
def test_experiment_trains_one_fast_dev_run(experiment, shards, tmp_path):
    import torch

    from raphael.train import build_module, train

    extra = []
    if experiment == "ediffi":  # experts branch from a trained base: give it one
        base = build_module(compose_train("experiment=baseline"))
        torch.save({"state_dict": base.state_dict()}, tmp_path / "base.ckpt")
        extra = [f"model.expert_init_ckpt={tmp_path / 'base.ckpt'}"]
    cfg = compose_train(
        f"experiment={experiment}",
        f"paths.root_dir={tmp_path}",
        f"paths.output_dir={tmp_path / 'run'}",
        f"data.urls='{shards}/train-{{000000..000001}}.tar'",
        f"data.val_urls={shards}/val-000000.tar",
        "data.generate=null",
        "logger=csv",
        "+trainer.fast_dev_run=true",
        *extra,
    )
    with open_dict(cfg):
        cfg.pop("hydra")  # as under @hydra.main: the job's config without the hydra node
    metrics = train(cfg)
    assert metrics["train/loss"] > 0 and "val/loss" in metrics
    if experiment in ("space_moe", "raphael"):
        assert metrics["train/balance_space"] > 0
    if experiment == "baseline":
        assert metrics["train/balance_space"] == 0 and metrics["train/balance_time"] == 0
    assert list((tmp_path / "run" / "samples").glob("*.png")), "validation writes a sample grid"
