"""``ShardDataModule``: WebDataset shards -> batches of docs/interfaces.md.

Training: raphael.data.stepstream (resampled shards seeded per segment -> tar -> shuffle buffer ->
robust decode -> fixed size or aspect buckets -> batch; the batch of step s is a function of the seed).
Validation: the val shards in order, split by node and worker, no shuffle, partial last batch.
Bad data (truncated or non-tar shards, undecodable images, missing captions, zero-size images)
is skipped by a counting WebDataset handler whose warning names the shard and the sample;
``batch["skipped"]`` / ``batch["bad"]`` say how many (and which) bad items this worker skipped since its
previous batch; `max_bad_in_a_row` bad items without a batch stop the run with a DataError. Grayscale, palette and RGBA images are converted.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import lightning as L
import numpy as np
import torch
import webdataset as wds
from filelock import FileLock
from hydra.utils import get_method
from torch.utils.data import DataLoader

from raphael.data.buckets import BucketBatcher, fit_sample
from raphael.data.decode import SkipCounter, decode_sample
from raphael.data.edges import canny_edges
from raphael.data.shard_cache import DecodedShards
from raphael.data.shards import DATASET_JSON, expand_urls, is_local
from raphael.data.stepstream import step_stream


def as_collated(batch: dict) -> dict:
    """The DataLoader's collate_fn: the pipeline's batches are already tensors (its default would walk them)."""
    return batch


class Collate:
    """Samples of one size -> the batch dict of docs/interfaces.md (+ ``skipped``). Samples
    without an edge map get Canny edges computed here."""

    def __init__(self, counter: SkipCounter):
        self.counter = counter

    def __call__(self, samples: Sequence[dict]) -> dict:
        images = torch.from_numpy(np.stack([s["image"] for s in samples])).permute(0, 3, 1, 2)
        empty = np.zeros(images.shape[-2:], dtype=np.float32)
        edges = torch.from_numpy(np.stack([empty if s["edge"] is None else s["edge"] for s in samples]))
        edges = edges.float().unsqueeze(1)
        missing = [i for i, s in enumerate(samples) if s["edge"] is None]
        if missing:
            edges[missing] = canny_edges(images[missing].float() / 255.0)
        skipped, bad = self.counter.pop()
        return {
            "image": images.float() / 127.5 - 1.0,
            "edge": edges.clamp_(0.0, 1.0),
            "caption": [s["caption"] for s in samples],
            "meta": [s["meta"] for s in samples],
            "key": [s["key"] for s in samples],
            "skipped": torch.tensor(skipped, dtype=torch.long),
            "bad": bad,  # "shard#key" of each skipped item (DataReport counts distinct ones per shard)
        }


class ShardDataModule(L.LightningDataModule):
    """Batches from WebDataset shards (img2dataset layout + optional KEY.edge.png).

    urls / val_urls: brace or glob patterns (``data/shapes/train-{000000..000019}.tar``), several
    joined by ``::``. ``generate``: a shard writer with its keyword arguments (a Hydra ``_partial_``, or a
    dict with ``_target_``), e.g. the shapes task's ``write_shapes_shards`` (num, val, seed, shard_size, ...);
    when given and the shards are missing, ``prepare_data`` writes them into
    the folder of ``urls``. ``epoch_samples``: samples per training epoch (default: the count in
    the folder's dataset.json, else endless). ``buckets``: aspect-ratio buckets around
    ``image_size`` instead of a fixed square. ``caption_augment``: ``f(caption, rng) -> caption`` (a Hydra
    ``_partial_`` or a dict with ``_target_``) applied to training captions only, its ``random.Random`` seeded per
    stream segment (so a resumed run sees the same captions), e.g. ``raphael.tasks.shapes.wording.drop_filler_words``.
    """

    def __init__(
        self,
        urls: str,
        val_urls: str | None = None,
        image_size: int = 32,
        batch_size: int = 64,
        num_workers: int = 2,
        shuffle_buffer: int = 1000,
        buckets: bool = False,
        seed: int = 0,
        epoch_samples: int | None = None,
        generate: Callable | dict | None = None,
        holdout_pairs: Sequence[Sequence[str]] | None = None,
        val_batch_size: int | None = None,
        max_bad_in_a_row: int = 1000,
        cache_decoded: bool = False,
        caption_augment: Callable | dict | None = None,
    ):
        super().__init__()  # the values are checked with the rest of the config (raphael.run.validation.validate_data)
        self.urls, self.val_urls = str(urls), (str(val_urls) if val_urls else None)
        self.image_size, self.batch_size = int(image_size), int(batch_size)
        self.val_batch_size = int(val_batch_size or batch_size)
        self.num_workers, self.shuffle_buffer = int(num_workers), int(shuffle_buffer)
        self.buckets, self.seed, self.epoch_samples = bool(buckets), int(seed), epoch_samples
        # built without Hydra, each is a dict {_target_: function, **its keyword arguments}: made a partial here
        generate, caption_augment = (
            functools.partial(get_method(f["_target_"]), **{k: v for k, v in f.items() if k != "_target_"})
            if isinstance(f, Mapping) else f for f in (generate, caption_augment))
        self.generate = generate or None  # a shard writer: writer(out_dir, **keywords) -> dataset info
        self.caption_augment = caption_augment or None
        self.max_bad_in_a_row = int(max_bad_in_a_row)
        self.cache_decoded = bool(cache_decoded)
        self.decoded_shards: dict[str, list[dict]] = {}  # url -> decoded samples (cache_decoded: training only)
        self.holdout_pairs = [list(p) for p in holdout_pairs] if holdout_pairs is not None else None
        self.train_shards: list[str] = []
        self.val_shards: list[str] = []

    # ------------------------------------------------------------------ shards on disk

    @staticmethod
    def _missing(pattern: str) -> tuple[list[str], list[str]]:
        urls = expand_urls(pattern)
        return urls, [u for u in urls if is_local(u) and not Path(u).is_file()]

    def prepare_data(self) -> None:
        if not self.generate:
            return
        local = [u for u in expand_urls(self.urls) if is_local(u)]
        out_dir = Path((local or [self.urls])[0]).parent
        if local:  # the lock lives beside the shards, so remote ones go without it
            out_dir.mkdir(parents=True, exist_ok=True)
        # jobs started together on a fresh clone (a Hydra multirun, two figure drivers) would each write the same
        # shards over one another while the first to finish reads them: one writes, the others wait and reuse
        with FileLock(out_dir / ".write.lock") if local else contextlib.nullcontext():
            self._write_if_needed(out_dir, local)

    def _write_if_needed(self, out_dir: Path, local: list[str]) -> None:
        urls, missing = self._missing(self.urls)
        val_missing = self._missing(self.val_urls)[1] if self.val_urls else []
        given = self.generate.keywords
        extra = {k: v for k, v in (("image_size", self.image_size), ("holdout_pairs", self.holdout_pairs))
                 if v is not None and k not in given}
        found = f"shards {self.urls!r} not found"
        if urls and not missing and not val_missing:
            # a writer may say whether the shards on disk are what it writes now (shapes: its generator fingerprint)
            is_current = getattr(self.generate.func, "is_current", None)
            if not local or is_current is None or is_current(out_dir, **given, **extra):
                return
            found = f"the shards in {out_dir} were written by another version of the generator"
        print(
            f"[data] {found}: writing {given.get('num')} training and "
            f"{given.get('val', 512)} validation samples to {out_dir} with {self.generate.func.__module__}."
            f"{self.generate.func.__name__} (once; later runs reuse them)"
        )
        info = self.generate(out_dir, **extra)
        for field, pattern, split in (("urls", self.urls, "train"), ("val_urls", self.val_urls, "val")):
            if pattern and self._missing(pattern)[1]:
                raise ValueError(
                    f"data.generate wrote {info['count'][split]} {split} samples as "
                    f"{out_dir}/{info['urls'][split]}, but data.{field}={pattern!r} expects other files: "
                    f"make generate.num / generate.shard_size (and val) match the pattern, or set "
                    f"data.{field}={out_dir}/{info['urls'][split]}"
                )

    def _resolve(self, pattern: str, what: str) -> list[str]:
        urls, missing = self._missing(pattern)
        if not urls or missing:
            shown = ", ".join(missing[:3]) + (" ..." if len(missing) > 3 else "")
            raise FileNotFoundError(
                f"data.{what}={pattern!r} matches no shard file"
                + (f" (missing: {shown})" if missing else "")
                + ". Write shards first, e.g. `python -m raphael.data.shards make-shapes --out DIR "
                "--num 20000` (the pattern must match what was written, see DIR/dataset.json), or give "
                "data.generate so the datamodule writes them, or point data.urls at existing shards."
            )
        return urls

    def setup(self, stage: str | None = None) -> None:
        self.train_shards = self._resolve(self.urls, "urls")
        self.val_shards = self._resolve(self.val_urls, "val_urls") if self.val_urls else []
        info = Path(self.train_shards[0]).parent / DATASET_JSON
        if self.epoch_samples is None and is_local(self.train_shards[0]) and info.is_file():
            self.epoch_samples = int(json.loads(info.read_text())["count"]["train"])

    # ------------------------------------------------------------------ pipelines

    def pipeline(self, source: list, batch_size: int, partial: bool, shuffle=None,
                 cached: bool = False, augment=None) -> wds.DataPipeline:
        """`source` (the shard-list stages) -> tar -> `shuffle` (a stage or None) -> robust decode -> fixed
        size or aspect buckets -> batches; one SkipCounter counts every bad item of this pipeline. `cached`:
        tar + decode once per shard, kept in `decoded_shards` (raphael.data.shard_cache), then `shuffle`.
        `augment`: a stage after decoding (training's caption augmentation), or None."""
        counter = SkipCounter(self.max_bad_in_a_row)
        collate = Collate(counter)
        if self.buckets:
            batching = [BucketBatcher(self.image_size, batch_size, collate, partial=partial)]
        else:
            size = (self.image_size, self.image_size)
            batching = [wds.map(functools.partial(fit_sample, size=size), handler=counter),  # cover, centre-crop
                        wds.batched(batch_size, collation_fn=collate, partial=partial)]
        if cached:
            read = [DecodedShards(self.decoded_shards, counter), shuffle]
        else:
            read = [wds.tarfile_to_samples(handler=counter), shuffle, wds.map(decode_sample, handler=counter)]
        return wds.DataPipeline(*source, wds.map(counter.reading), *read, augment, *batching)  # None is skipped

    def val_pipeline(self) -> wds.DataPipeline:
        if not self.val_shards:
            self.setup("validate")
        if not self.val_shards:
            raise ValueError("data.val_urls is not set: no validation shards")
        source = [wds.SimpleShardList(self.val_shards), wds.split_by_node, wds.split_by_worker]
        return self.pipeline(source, self.val_batch_size, partial=True)

    def _loader(self, dataset: wds.DataPipeline, num_workers: int) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=None,
            collate_fn=as_collated,
            num_workers=num_workers,
            persistent_workers=num_workers > 0,
            prefetch_factor=4 if num_workers > 0 else None,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(step_stream(self), self.num_workers)  # batch of step s = f(seed, s): exact resume

    def val_dataloader(self) -> DataLoader | list:
        if not self.val_urls:
            return []
        return self._loader(self.val_pipeline(), min(self.num_workers, len(self.val_shards)))
