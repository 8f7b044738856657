"""Routing records: the callback's files and metrics, the sampling recorder, and the gates fast path."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf

from raphael.analysis.routing_records import RoutingRecorder, RoutingStats, normalised_entropy
from raphael.callbacks.routing import RoutingCallback
from raphael.nn.block import BlockAux

CONF = Path(__file__).resolve().parents[1] / "conf"
TINY_MODEL = {"channels": 8, "channel_mult": [1, 2], "transformer_depth": [1, 1], "mid_transformer_depth": 1,
              "head_dim": 8, "ffn_mult": 2, "gate": {"hidden": 8}, "edge": {"hidden": 4}, "norm_groups": 4}


def build_tiny_module(seed: int = 0):
    """A RaphaelModule at test widths (every part on), straight from conf/ without the data group."""
    from raphael.module import RaphaelModule

    torch.manual_seed(seed)
    model = OmegaConf.merge(OmegaConf.load(CONF / "model/raphael.yaml"), TINY_MODEL)
    diffusion = OmegaConf.merge(OmegaConf.load(CONF / "diffusion/ddpm.yaml"), {"sample_steps": 2})
    return RaphaelModule(model, OmegaConf.load(CONF / "text_encoder/minilm.yaml"), diffusion,
                         OmegaConf.load(CONF / "optim/adamw.yaml"), image_size=16)


@pytest.fixture(scope="module")
def tiny_module():
    return build_tiny_module()


def fake_aux(B=4, L=5, E=3, Et=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    blocks = []
    for name in ("down0.0", "mid.0"):
        routes = torch.randint(0, E, (B, L), generator=g)
        routes[:, -1] = -1  # padding
        blocks.append(BlockAux(name=name, hw=(2, 2), space_routes=routes, space_probs=torch.rand(B, L, E),
                               time_routes=torch.randint(0, Et, (B,), generator=g), time_probs=torch.rand(B, Et),
                               attn_map=torch.rand(B, 4, L)))
    return SimpleNamespace(blocks=blocks)


class FakeModule:
    def __init__(self):
        self.logged = {}
        self.train_scheduler = SimpleNamespace(config=SimpleNamespace(num_train_timesteps=1000))

    def log(self, name, value, **kwargs):
        self.logged[name] = value


def fake_trainer(tmp_path, step=7):
    return SimpleNamespace(sanity_checking=False, is_global_zero=True, global_step=step,
                           default_root_dir=str(tmp_path), loggers=[])


def test_normalised_entropy():
    assert abs(normalised_entropy(np.array([5, 5, 5])) - 1.0) < 1e-9
    assert normalised_entropy(np.array([9, 0, 0])) == 0.0


def test_stats_count_only_real_tokens_and_cond_rows():
    aux = fake_aux(B=4)
    stats = RoutingStats()
    stats.add(aux, torch.tensor([0, 999]))  # guidance layout: 2 cond rows of 4
    load = stats.space_load()
    assert load.groupby("block")["tokens"].sum().tolist() == [2 * 4, 2 * 4]
    assert len(stats.time_pairs()) == 2 * 2


def test_callback_writes_csv_png_and_logs_entropies(tmp_path):
    cb, module, trainer = RoutingCallback(words=[]), FakeModule(), fake_trainer(tmp_path)
    for step in (7, 14):
        trainer.global_step = step
        cb.on_validation_epoch_start(trainer, module)
        for i in range(2):
            out = {"loss": torch.tensor(1.0), "aux": fake_aux(seed=i), "t": torch.linspace(0, 999, 4).long()}
            cb.on_validation_batch_end(trainer, module, out, None, i)
        cb.on_validation_epoch_end(trainer, module)
    routing = tmp_path / "routing"
    assert {"space_load.csv", "time_experts.csv", "load_entropy.png",
            "time_experts_step_000014.png"} <= {p.name for p in routing.iterdir()}
    load = pd.read_csv(routing / "space_load.csv")
    assert sorted(load.step.unique()) == [7, 14] and set(load.block) == {"down0.0", "mid.0"}
    assert 0 <= module.logged["routing/space_load_entropy/mid.0"] <= 1
    assert "routing/time_load_entropy/down0.0" in module.logged
    assert "routing/space_load/down0.0/e2" in module.logged


def test_callback_skips_sanity_check(tmp_path):
    cb, module, trainer = RoutingCallback(words=[]), FakeModule(), fake_trainer(tmp_path)
    trainer.sanity_checking = True
    cb.on_validation_batch_end(trainer, module, {"aux": fake_aux(), "t": torch.zeros(4).long()}, None, 0)
    cb.on_validation_epoch_end(trainer, module)
    assert not (tmp_path / "routing").exists() and not module.logged


def test_callback_on_real_validation_step_draws_paths(tiny_module, tmp_path):
    g = torch.Generator().manual_seed(0)
    batch = {"image": torch.rand(2, 3, 16, 16, generator=g) * 2 - 1, "edge": torch.zeros(2, 1, 16, 16),
             "caption": ["a red circle on the left", "a blue square"]}
    tiny_module.eval()
    out = tiny_module.validation_step(batch, 0)
    cb, trainer = RoutingCallback(words=["red", "circle", "left"]), fake_trainer(tmp_path)
    cb.on_validation_epoch_start(trainer, tiny_module)
    cb.on_validation_batch_end(trainer, tiny_module, out, batch, 0)
    cb.write(trainer, tiny_module, cb.stats.space_load())
    assert (tmp_path / "routing" / "paths_step_000007.png").is_file()


def test_recorded_routes_equal_gate_routes(tiny_module):
    """The fast path: net.text_routes equals what a forward pass records (eval mode, random weights)."""
    captions = ["a small red circle on the left", "a blue square"]
    recorder = RoutingRecorder()
    tiny_module.generate(captions, guidance=3.0, steps=2, seed=0, on_step=recorder)
    assert len(recorder.steps) == 2
    fast = tiny_module.net.text_routes(tiny_module.encode_text(captions))
    for step in range(2):
        recorded = recorder.token_routes(step)
        assert recorded.shape[0] == 2 and recorded.shape[-1] == fast.shape[-1] > 0
        L = fast.shape[1]
        assert torch.equal(recorded[:, :L], fast)
        assert (recorded[:, L:] == -1).all()  # padding beyond the cond rows' length


@pytest.mark.slow
def test_callback_in_a_tiny_trainer_run(tmp_path):
    import lightning as L

    def batches(n):
        g = torch.Generator().manual_seed(0)
        return [{"image": torch.rand(2, 3, 16, 16, generator=g) * 2 - 1, "edge": torch.zeros(2, 1, 16, 16),
                 "caption": ["a red circle on the left", "a small blue square"]} for _ in range(n)]

    def loader(n):  # pre-made batches
        return torch.utils.data.DataLoader(batches(n), batch_size=None)

    module = build_tiny_module()
    trainer = L.Trainer(limit_val_batches=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        default_root_dir=str(tmp_path), callbacks=[RoutingCallback()])
    trainer.validate(module, dataloaders=loader(2))
    names = {p.name for p in (tmp_path / "routing").iterdir()}
    assert {"space_load.csv", "time_experts.csv", "paths_step_000000.png", "time_experts_step_000000.png"} <= names
    assert "routing/space_load_entropy/mid.0" in trainer.callback_metrics
    assert len(pd.read_csv(tmp_path / "routing" / "time_experts.csv")) == 2 * 2 * 5  # batches x B x blocks
