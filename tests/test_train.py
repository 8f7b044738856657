"""Every experiment composes and trains: one fast_dev_run each through raphael.train.train, tiny widths."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from conftest import EMA_ON, compose_train
from omegaconf import open_dict

EXPERIMENTS = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "conf" / "experiment").glob("*.yaml"))


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    from raphael.tasks.shapes.shards import write_shapes_shards

    out = tmp_path_factory.mktemp("shapes")
    write_shapes_shards(out, num=32, val=8, seed=0, image_size=16, shard_size=16, progress=False)
    return out


def test_the_five_paper_ablations_are_experiments():
    assert {"baseline", "space_moe", "time_moe", "edge", "raphael"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("experiment", EXPERIMENTS)  # every conf/experiment/*.yaml, the peers included
def test_experiment_trains_one_fast_dev_run(experiment, shards, tmp_path):
    import torch

    from raphael.training import build_module, train

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
        assert {"val/alignment", "val/alignment_holdout", "val/alignment_wording"} <= set(metrics)
    if experiment == "baseline":
        assert metrics["train/balance_space"] == 0 and metrics["train/balance_time"] == 0
    assert list((tmp_path / "run" / "samples").glob("*.png")), "validation writes a sample grid"



class WatchTimeExperts(L.Callback):
    """Records, before each step, whether the experts are shared; at the split step checks the copies."""

    seen: list = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        from raphael.callbacks.time_experts import shared_time_moes
        from raphael.nn.moe import TimeMoE

        WatchTimeExperts.seen.append(bool(shared_time_moes(pl_module.net)))
        if trainer.global_step != 2:
            return
        ema = next(c for c in trainer.callbacks if hasattr(c, "_average_model"))._average_model.module.net
        opt = trainer.optimizers[0]
        for net in (pl_module.net, ema):
            for moe in (m for m in net.modules() if isinstance(m, TimeMoE)):
                for e in range(1, moe.num_experts):
                    for a, b in zip(moe.experts[0].parameters(), moe.experts[e].parameters()):
                        assert torch.equal(a, b)
                        if net is pl_module.net:
                            assert torch.equal(opt.state[a]["exp_avg"], opt.state[b]["exp_avg"])


def test_time_experts_warm_start_splits_at_its_budget_fraction(shards, tmp_path):
    """shared_until=0.5 of 4 steps: expert 0 alone for steps 0-1, copied (weights, AdamW state, EMA) at step 2."""
    from raphael.training import train

    cfg = compose_train(
        "experiment=raphael", "model.time_moe.shared_until=0.5", f"paths.root_dir={tmp_path}",
        f"paths.output_dir={tmp_path / 'run'}", f"data.urls='{shards}/train-{{000000..000001}}.tar'",
        "data.val_urls=null", "data.generate=null", "logger=csv", "trainer.limit_val_batches=0",
        "trainer.val_check_interval=null", "+callbacks.watch._target_=test_train.WatchTimeExperts", EMA_ON,
    )
    with open_dict(cfg):
        cfg.pop("hydra")
    WatchTimeExperts.seen = []
    train(cfg)
    assert WatchTimeExperts.seen == [True, True, False, False]
    weights = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    flags = [k for k in weights if k.endswith("time_moe.shared")]
    assert flags and not any(bool(weights[k]) for k in flags)
