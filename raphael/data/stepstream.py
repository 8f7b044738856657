"""A training stream whose batch for global step s is a function of (seed, rank, s): exact resume.

The stream is cut into worker slots and segments. With W loader workers (W = 1 for num_workers=0),
step s belongs to slot s mod W at local index j = s div W; local indices are grouped into segments of
`segment_batches`, and segment g of slot w is a fresh pipeline seeded from (seed, rank, w, g)
(`make_pipeline(segment_seed)` builds it, SegmentPipeline below). A run resumed at
step k rebuilds the segment that holds k and skips at most `segment_batches - 1` batches of it, so it
sees exactly the batches the uninterrupted run saw — given the same seed, num_workers and world size.
DataLoader's round-robin over workers keeps the slot of each worker fixed, because every worker
yields the same number of batches per epoch (`batches_per_epoch`, like WebDataset's with_epoch).
"""

from __future__ import annotations

import itertools
import logging
import math
import random
from collections.abc import Callable, Iterable, Iterator

import torch
import webdataset as wds

log = logging.getLogger(__name__)


def segment_seed(seed: int, rank: int, slot: int, segment: int) -> int:
    return hash((int(seed), rank, slot, segment)) & (2**31 - 1)


def _same_for_every_worker() -> int:
    return 0  # the segment seed already says which slot (not which loader worker) this is


class SegmentPipeline:
    """One segment of ShardDataModule's training pipeline, seeded by the segment alone: resampled shards
    -> tar -> shuffle buffer -> robust decode -> batches (the datamodule's own pieces and skip counter)."""

    def __init__(self, datamodule) -> None:
        self.dm = datamodule

    def __call__(self, seed: int) -> Iterable:
        dm = self.dm
        # data parallel: each rank resamples only its own slice of the shards, so ranks read disjoint
        # samples (when there are at least as many shards as ranks)
        rank, world, _, _ = wds.utils.pytorch_worker_info()
        shards = dm.train_shards[rank::world] if 1 < world <= len(dm.train_shards) else dm.train_shards
        source = wds.ResampledShards(shards, seed=seed, worker_seed=_same_for_every_worker, deterministic=True)
        shuffle = wds.shuffle(dm.shuffle_buffer, min(dm.shuffle_buffer, 100), rng=random.Random(seed))
        augment = None
        if dm.caption_augment is not None:  # a copy of each sample: the decoded-shard cache keeps the originals
            rng = random.Random(seed + 1)
            augment = wds.map(lambda sample: {**sample, "caption": dm.caption_augment(sample["caption"], rng)})
        return dm.pipeline([source], dm.batch_size, partial=False, shuffle=shuffle if dm.shuffle_buffer > 1 else None,
                           cached=dm.cache_decoded, augment=augment)


def step_stream(datamodule, segment_batches: int = 100) -> StepStream:
    """The training stream of a ShardDataModule, starting at the trainer's step (0, or the resumed one)."""
    dm = datamodule
    if not dm.train_shards:
        dm.setup("fit")
    trainer = dm.trainer
    start = trainer.global_step * trainer.accumulate_grad_batches if trainer is not None else 0
    world = trainer.world_size if trainer is not None else 1
    if world > len(dm.train_shards):
        log.warning(f"data: {world} ranks but {len(dm.train_shards)} training shard(s): every rank reads every "
                    "shard, so the ranks train on overlapping samples. Write at least as many shards as ranks "
                    "(e.g. make-shapes --shard-size smaller) for disjoint data.")
    per_worker = None
    if dm.epoch_samples:
        per_worker = max(1, math.ceil(dm.epoch_samples / (dm.batch_size * max(1, dm.num_workers) * world)))
    return StepStream(SegmentPipeline(dm), dm.seed, start_step=start, num_slots=max(1, dm.num_workers),
                      segment_batches=segment_batches, batches_per_epoch=per_worker)


class StepStream(torch.utils.data.IterableDataset):
    def __init__(self, make_pipeline: Callable[[int], Iterable], seed: int, start_step: int = 0,
                 num_slots: int = 1, segment_batches: int = 100, batches_per_epoch: int | None = None) -> None:
        super().__init__()
        self.make_pipeline, self.seed = make_pipeline, seed
        self.start_step, self.num_slots = int(start_step), max(1, int(num_slots))
        self.segment_batches, self.batches_per_epoch = max(1, int(segment_batches)), batches_per_epoch
        self._batches: Iterator | None = None  # survives epochs in a persistent worker / the main process

    def _endless(self, rank: int, worker: int) -> Iterator:
        first = self.start_step + worker  # DataLoader hands this worker steps first, first + W, ...
        slot, local = first % self.num_slots, first // self.num_slots
        for segment in itertools.count(local // self.segment_batches):
            pipeline = self.make_pipeline(segment_seed(self.seed, rank, slot, segment))
            batches = itertools.islice(iter(pipeline), self.segment_batches)
            if segment == local // self.segment_batches:
                batches = itertools.islice(batches, local % self.segment_batches, None)
            yield from batches

    def __iter__(self) -> Iterator:
        if self._batches is None:
            rank, _, worker, _ = wds.utils.pytorch_worker_info()
            self._batches = self._endless(rank, worker)
        # islice (stop None: endless), not `yield from self._batches`: an epoch cut short (limit_train_batches)
        # closes this generator, and yield from would close the stream every later epoch reads
        yield from itertools.islice(self._batches, self.batches_per_epoch)
