import io
import json
import logging
import tarfile
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from PIL import Image

from raphael.data.buckets import bucket_sizes
from raphael.data.datamodule import ShardDataModule
from raphael.tasks.shapes import scenes as shapes

GENERATE = {"_target_": "raphael.tasks.shapes.shards.write_shapes_shards", "num": 64, "val": 20, "seed": 0, "shard_size": 32}


def _check_batch(batch, size=(32, 32)):
    b = len(batch["key"])
    assert batch["image"].shape == (b, 3, *size) and batch["image"].dtype == torch.float32
    assert -1.0 <= batch["image"].min() and batch["image"].max() <= 1.0
    assert batch["edge"].shape == (b, 1, *size) and batch["edge"].dtype == torch.float32
    assert 0.0 <= batch["edge"].min() and batch["edge"].max() <= 1.0
    assert len(batch["caption"]) == len(batch["meta"]) == b and all(
        isinstance(c, str) and c for c in batch["caption"]
    )
    assert batch["skipped"].dtype == torch.long and batch["skipped"].ndim == 0


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    dm = ShardDataModule(
        str(root / "shapes/train-{000000..000001}.tar"),
        str(root / "shapes/val-000000.tar"),
        batch_size=8,
        num_workers=0,
        shuffle_buffer=16,
        generate=GENERATE,
    )
    dm.prepare_data()
    dm.setup("fit")
    return dm


def test_generate_writes_missing_shards_once(generated, capsys):
    assert generated.epoch_samples == 64  # read from dataset.json
    generated.prepare_data()  # shards exist now: nothing written, nothing printed
    assert capsys.readouterr().out == ""


def test_train_batches_follow_the_contract(generated):
    batches = list(generated.train_dataloader())
    assert len(batches) == 8  # epoch_samples / batch_size
    for batch in batches:
        _check_batch(batch)
        for caption, meta in zip(batch["caption"], batch["meta"]):
            assert meta["caption"] == caption and 1 <= len(meta["objects"]) <= 3
        assert batch["edge"].sum() > 0 and set(batch["edge"].unique().tolist()) <= {0.0, 1.0}
        assert int(batch["skipped"]) == 0
    image = ((batches[0]["image"][0] + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    assert np.array_equal(image, shapes.make_sample(batches[0]["meta"][0]["seed"])[0])


def test_cached_training_stream_is_the_uncached_one(generated):
    """data.cache_decoded keeps each decoded shard in memory: the batches (images, captions, order) do not change,
    over several passes of the shards, and the cached images are not changed by the stages after it."""
    cached = ShardDataModule(generated.urls, batch_size=8, num_workers=0, shuffle_buffer=16, cache_decoded=True)
    cached.setup("fit")
    cached.epoch_samples = generated.epoch_samples = 64 * 3  # three passes over the 64 samples
    try:
        plain, kept = list(generated.train_dataloader()), list(cached.train_dataloader())
    finally:
        generated.epoch_samples = 64
    assert len(plain) == len(kept) == 24 and len(cached.decoded_shards) == 2
    for a, b in zip(plain, kept):
        assert a["key"] == b["key"] and a["caption"] == b["caption"]
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["edge"], b["edge"])


def test_val_loader_is_deterministic_and_complete(generated):
    first = [k for b in generated.val_dataloader() for k in b["key"]]
    second = [k for b in generated.val_dataloader() for k in b["key"]]
    assert first == second == [f"{i:09d}" for i in range(20)]


def test_missing_shards_are_a_clear_error(tmp_path):
    dm = ShardDataModule(str(tmp_path / "train-{000000..000019}.tar"), num_workers=0)
    with pytest.raises(FileNotFoundError, match=r"train-\{000000..000019\}.tar.*make-shapes"):
        dm.setup("fit")


def test_aspect_buckets(tmp_path):
    dm = ShardDataModule(
        str(tmp_path / "train-000000.tar"),
        batch_size=4,
        num_workers=0,
        shuffle_buffer=0,
        buckets=True,
        generate={"_target_": "raphael.tasks.shapes.shards.write_shapes_shards", "num": 40, "val": 0, "shard_size": 64, "aspect_buckets": True},
    )
    dm.prepare_data()
    dm.setup("fit")
    sizes = set()
    for batch in dm.train_dataloader():
        size = tuple(batch["image"].shape[-2:])
        _check_batch(batch, size)
        assert size in bucket_sizes(32)
        sizes.add(size)
    assert len(sizes) >= 2


# ---------------------------------------------------------------------------------------------- bad data


def _png(image, fmt="PNG"):
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt) if isinstance(image, np.ndarray) else image.save(
        buf, format=fmt
    )
    return buf.getvalue()


def _zero_width_png():
    data = bytearray(_png(Image.new("RGB", (1, 1))))
    data[16:20] = (0).to_bytes(4, "big")  # IHDR width = 0
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    return bytes(data)


def _tar(path, members):
    with tarfile.open(path, "w") as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


def _good(key, mode="RGB"):
    image, meta = shapes.make_sample(int(key))
    pil = Image.fromarray(image)
    if mode != "RGB":
        pil = pil.convert(mode)
    return [
        (f"{key}.txt", meta["caption"].encode()),
        (f"{key}.png", _png(pil)),
        (f"{key}.json", json.dumps(meta).encode()),
    ]


def test_bad_samples_are_skipped_counted_and_logged(tmp_path, caplog):
    valid = []
    members = []
    for i, mode in enumerate(["RGB", "L", "RGBA", "P", "LA"]):  # converted, never skipped
        key = f"{i:09d}"
        members += _good(key, mode)
        valid.append(key)
    members += [("000000100.png", _png(shapes.make_sample(1)[0]))]  # no caption
    members += [("000000101.txt", b"broken"), ("000000101.png", b"\x89PNG not really")]  # undecodable
    members += [("000000102.txt", b"zero"), ("000000102.png", _zero_width_png())]  # zero-size
    members += [("000000103.txt", b"no image at all")]
    members += _good("000000006")
    valid.append("000000006")
    _tar(tmp_path / "a-000000.tar", members)

    # truncated shard: samples 10..13 complete, the cut falls inside sample 14's image
    trunc = [m for k in range(10, 16) for m in _good(f"{k:09d}")]
    _tar(tmp_path / "full.tar", trunc)
    with tarfile.open(tmp_path / "full.tar") as tf:
        png14 = tf.getmember("000000014.png")
        cut = png14.offset_data + png14.size // 2
    (tmp_path / "a-000001.tar").write_bytes((tmp_path / "full.tar").read_bytes()[:cut])
    (tmp_path / "full.tar").unlink()
    valid += [f"{k:09d}" for k in range(10, 14)]
    (tmp_path / "a-000002.tar").write_bytes(np.random.default_rng(0).bytes(3000))  # not a tar at all

    dm = ShardDataModule(
        str(tmp_path / "a-*.tar"), val_urls=str(tmp_path / "a-*.tar"), batch_size=4, num_workers=0
    )
    dm.setup("fit")
    with caplog.at_level(logging.WARNING, logger="raphael.data"):
        batches = list(dm.val_pipeline())
    keys = [k for b in batches for k in b["key"]]
    assert sorted(keys) == sorted(valid)
    skipped = sum(int(b["skipped"]) for b in batches)
    assert skipped >= 6  # no caption, undecodable, zero-size, no image, truncated shard, random bytes
    assert "data: skipped sample '000000100' of shard" in caplog.text
    for batch in batches:
        _check_batch(batch)
        assert batch["edge"].sum() > 0  # no edge.png in these shards: Canny computed on the fly
    gray = next(b for b in batches if "000000001" in b["key"])
    i = gray["key"].index("000000001")
    assert torch.equal(gray["image"][i, 0], gray["image"][i, 1])  # grayscale -> 3 equal channels

    # the resampled training stream survives the same shards
    dm = ShardDataModule(
        str(tmp_path / "a-*.tar"), batch_size=4, num_workers=0, epoch_samples=40, shuffle_buffer=8
    )
    dm.setup("fit")
    train = list(dm.train_dataloader())
    assert len(train) == 10 and all(set(b["key"]) <= set(valid) for b in train)
    assert sum(int(b["skipped"]) for b in train) > 0

    # ... and so does the decoded-shard cache: the bad items are counted when a shard is first read, then gone
    dm = ShardDataModule(str(tmp_path / "a-*.tar"), batch_size=4, num_workers=0, epoch_samples=40, shuffle_buffer=8,
                         cache_decoded=True)
    dm.setup("fit")
    train = list(dm.train_dataloader())
    assert len(train) == 10 and all(set(b["key"]) <= set(valid) for b in train)
    assert sum(int(b["skipped"]) for b in train) > 0
    assert sorted(k for samples in dm.decoded_shards.values() for k in (s["key"] for s in samples)) == sorted(valid)


def test_generate_that_does_not_match_the_pattern_says_so(tmp_path):
    dm = ShardDataModule(
        str(tmp_path / "train-{000000..000019}.tar"),
        num_workers=0,
        generate={"_target_": "raphael.tasks.shapes.shards.write_shapes_shards", "num": 10, "val": 0, "shard_size": 1000},
    )
    with pytest.raises(ValueError, match=r"train-\{000000..000000\}.tar"):
        dm.prepare_data()


def test_hydra_configs_instantiate(tmp_path):
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    conf = str(__import__("pathlib").Path(__file__).resolve().parents[1] / "conf")
    with initialize_config_dir(config_dir=conf, version_base="1.3"):
        cfg = compose("train", overrides=[f"paths.data_dir={tmp_path}"])
        wds_cfg = compose("train", overrides=["data=wds", f"data.urls={tmp_path}/x-*.tar"])
    dm = instantiate(cfg.data)
    assert isinstance(dm, ShardDataModule) and dm.urls == f"{tmp_path}/shapes/train-{{000000..000007}}.tar"
    assert dm.generate.keywords["num"] == 8000 and dm.holdout_pairs == shapes.DEFAULT_HOLDOUT
    dm = instantiate(wds_cfg.data)
    assert dm.generate is None and dm.buckets
    with pytest.raises(FileNotFoundError, match="x-\\*.tar"):
        dm.setup("fit")


def test_shards_of_another_generator_version_are_rewritten(tmp_path, capsys):
    """The writer's fingerprint of its output is in dataset.json: a changed caption or scene generator (here: a
    tampered fingerprint) makes prepare_data write the shards again instead of training on the old ones."""
    dm = ShardDataModule(str(tmp_path / "train-000000.tar"), generate={
        "_target_": "raphael.tasks.shapes.shards.write_shapes_shards", "num": 8, "val": 0, "shard_size": 8,
        "progress": False}, image_size=16)
    dm.prepare_data()
    info_path = tmp_path / "dataset.json"
    written = json.loads(info_path.read_text())
    capsys.readouterr()
    dm.prepare_data()
    assert capsys.readouterr().out == ""  # current: reused
    info_path.write_text(json.dumps({**written, "fingerprint": "0123456789abcdef"}))
    dm.prepare_data()
    assert "another version of the generator" in capsys.readouterr().out
    assert json.loads(info_path.read_text())["fingerprint"] == written["fingerprint"]


def test_caption_augment_changes_training_captions_only_and_repeatably(generated):
    from raphael.tasks.shapes import wording

    augment = {"_target_": "raphael.tasks.shapes.wording.drop_filler_words", "p": 0.5, "share": 1.0}
    dm = ShardDataModule(generated.urls, generated.val_urls, batch_size=8, num_workers=0, shuffle_buffer=16,
                         caption_augment=augment)
    dm.setup("fit")
    first, again = next(iter(dm.train_dataloader())), next(iter(dm.train_dataloader()))
    plain = next(iter(generated.train_dataloader()))
    assert first["caption"] == again["caption"] and first["key"] == plain["key"]
    assert first["caption"] != plain["caption"]
    for caption, meta in zip(first["caption"], first["meta"]):  # still every attribute of every object
        assert sorted(map(str, wording.read_objects(caption))) == sorted(
            str(wording._canonical(o)) for o in meta["objects"])
    val = next(iter(dm.val_dataloader()))
    assert val["caption"] == [m["caption"] for m in val["meta"]]  # validation keeps the captions as written


def test_jobs_started_together_write_the_shards_once(tmp_path, capsys):
    """Two jobs on a fresh clone (a multirun's first two) must not write the same shards over one another while
    the first to finish already reads them: one writes, the other waits for it and reuses what it wrote."""
    generate = {"_target_": "raphael.tasks.shapes.shards.write_shapes_shards", "num": 16, "val": 0, "shard_size": 8,
                "progress": False}
    jobs = [ShardDataModule(str(tmp_path / "train-{000000..000001}.tar"), generate=generate, image_size=16)
            for _ in range(2)]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda dm: dm.prepare_data(), jobs))
    assert capsys.readouterr().out.count("[data]") == 1
    assert [p.name for p in sorted(tmp_path.glob("*.tar"))] == ["train-000000.tar", "train-000001.tar"]
