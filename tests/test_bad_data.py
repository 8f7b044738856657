"""Bad data is skipped, counted and reported; every valid sample is used; training goes on."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from bad_shards import write_bad_battery  # noqa: E402

from raphael.data.datamodule import ShardDataModule  # noqa: E402


@pytest.fixture
def battery(tmp_path):
    return write_bad_battery(tmp_path / "shards")


def datamodule(url: str, **kw) -> ShardDataModule:
    kw = {"image_size": 8, "batch_size": 2, "num_workers": 0, "shuffle_buffer": 0, **kw}
    dm = ShardDataModule(urls=url, val_urls=url, **kw)
    dm.setup("fit")
    return dm


def test_one_pass_uses_every_valid_sample_and_counts_every_bad_one(battery):
    url, must_use, must_skip = battery
    keys, skipped = [], 0
    for batch in datamodule(url).val_dataloader():
        assert batch["image"].shape[1:] == (3, 8, 8) and batch["image"].abs().max() <= 1
        assert all(isinstance(c, str) and c for c in batch["caption"])
        keys += batch["key"]
        skipped += int(batch["skipped"])
    assert set(keys) == must_use | {"trunc_ok"}  # grayscale, RGBA, 5,000 chars, non-ASCII all kept
    assert len(keys) == len(set(keys))
    assert not set(keys) & must_skip
    # no caption, undecodable, zero-size, empty caption + the truncated shard + the random-bytes shard
    assert skipped >= len(must_skip) - 1 + 2


def test_training_stream_goes_on_over_bad_shards(battery):
    url, must_use, _ = battery
    dm = datamodule(url, shuffle_buffer=4)
    skipped, seen = 0, set()
    for i, batch in enumerate(dm.train_dataloader()):
        seen |= set(batch["key"])
        skipped += int(batch["skipped"])
        if i == 20:
            break
    assert seen <= must_use | {"trunc_ok"} and len(seen) >= 5
    assert skipped > 0


def test_a_5000_character_caption_is_truncated_by_the_tokenizer():
    from raphael.nn.text_encoder import FrozenTextEncoder

    encoder = FrozenTextEncoder(max_length=16)
    text = encoder(["a very long caption " * 250, "un cercle rouge à gauche, 赤い丸, 🟥"])
    assert text.states.shape[1] <= 16 and text.mask[0].all()
    assert torch.isfinite(text.states).all()


@pytest.mark.slow
def test_training_over_bad_shards_reports_skips_at_epoch_end(battery, caplog, tmp_path):
    import lightning as L
    from conftest import compose_train

    from raphael.callbacks.data_report import DataReport
    from raphael.module import RaphaelModule

    url, _, _ = battery
    cfg = compose_train("experiment=raphael", "text_encoder.max_length=16", "model.edge.max_tokens=16")
    module = RaphaelModule(cfg.model, cfg.text_encoder, cfg.diffusion, cfg.optim, cfg.vae, image_size=8)
    dm = ShardDataModule(urls=url, image_size=8, batch_size=2, num_workers=0, shuffle_buffer=0, epoch_samples=6)
    report = DataReport()
    trainer = L.Trainer(max_steps=5, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=tmp_path, callbacks=[report])
    with caplog.at_level(logging.INFO):
        trainer.fit(module, datamodule=dm)
    assert trainer.global_step == 5
    assert report.used_total == 10 and report.skipped_total > 0
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("data: epoch")]
    assert lines and "skipped" in lines[0]
