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


def test_skip_messages_name_the_shard_and_the_sample(tmp_path, caplog):
    import io
    import tarfile

    from bad_shards import good, png, rgb, write_tar

    write_tar(tmp_path / "a.tar", [good("ok0", 0), {"__key__": "bad_json", "png": png(rgb(1)), "txt": b"x",
                                                     "json": b"{not json"},
                                   {"__key__": "not_utf8", "png": png(rgb(2)), "txt": b"\xff\xfe caption"},
                                   good("ok1", 3)])
    with tarfile.open(tmp_path / "b.tar", "w") as tar:  # one key twice in a tar
        for name, data in [("twice.png", png(rgb(4))), ("twice.txt", b"one"), ("twice.png", png(rgb(5)))]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with caplog.at_level(logging.WARNING):
        for url in ("a", "b"):
            list(datamodule(str(tmp_path / f"{url}.tar"), batch_size=1).val_dataloader())
    messages = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    for key, shard in (("bad_json", "a.tar"), ("not_utf8", "a.tar")):
        assert any(f"sample '{key}'" in m and shard in m for m in messages), messages
    assert any("b.tar" in m and "twice" in m for m in messages), messages


def test_shards_that_are_all_bad_stop_with_a_clear_error(tmp_path):
    from raphael.run.errors import DataError

    for i in range(3):
        (tmp_path / f"junk-{i}.tar").write_bytes(b"not a tar file at all " * 100)
    dm = datamodule(str(tmp_path / "junk-{0..2}.tar"), max_bad_in_a_row=50)
    with pytest.raises(DataError, match="50 bad samples in a row") as err:
        next(iter(dm.train_dataloader()))
    assert "junk-" in str(err.value) and "data.urls" in str(err.value)


def test_a_bad_sample_met_again_counts_once_and_its_shard_is_named(battery):
    from types import SimpleNamespace

    from raphael.callbacks.data_report import DataReport

    report = DataReport()
    batch = {"caption": ["a"], "bad": ["s0.tar#k1", "s0.tar#k2"]}
    report.on_train_batch_end(None, None, None, batch, 0)
    report.on_train_batch_end(None, None, None, {"caption": ["b"], "bad": ["s0.tar#k1"]}, 1)
    assert report.skipped == 2 and report.shard_meets["s0.tar"] == 3
    state = report.state_dict()
    resumed = DataReport()
    resumed.load_state_dict(state)
    assert (resumed.used, resumed.skipped, resumed.shard_meets) == (2, 2, report.shard_meets)
    trainer = SimpleNamespace(current_epoch=0, global_step=2, loggers=[])
    resumed.report(trainer)
    assert resumed.used_total == 2 and resumed.skipped_total == 2


def test_more_ranks_than_shards_is_said_at_start(tmp_path, caplog):
    from types import SimpleNamespace

    from bad_shards import write_good_shards

    from raphael.data.stepstream import step_stream

    dm = datamodule(write_good_shards(tmp_path / "one", num_shards=1, per_shard=4))
    dm.trainer = SimpleNamespace(global_step=0, accumulate_grad_batches=1, world_size=2)
    with caplog.at_level(logging.WARNING):
        step_stream(dm)
    assert "2 ranks but 1 training shard(s)" in caplog.text


def test_python_m_raphael_train_on_shards_that_are_all_bad_exits_2_within_seconds(tmp_path):
    import time

    from train_harness import run, train_command

    for i in range(2):
        (tmp_path / f"junk-{i}.tar").write_bytes(b"not a tar file at all " * 100)
    started = time.perf_counter()
    proc = run(train_command(tmp_path, str(tmp_path / "junk-{0..1}.tar"), tmp_path / "run", "trainer.max_steps=5"),
               timeout=300)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert "bad samples in a row and not one good batch" in proc.stderr and "junk-" in proc.stderr
    assert time.perf_counter() - started < 120  # start-up included; the data check itself takes under a second
