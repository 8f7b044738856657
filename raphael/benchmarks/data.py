"""Benchmark 5: the loader's samples/s vs what the default training step consumes.

ShardDataModule on the shapes shards (conf/data/shapes.yaml: batch 64, 2 workers, shuffle buffer 1000)
vs the default training step's rate (batch_size / step time of RaphaelModule's training step, fwd +
bwd + AdamW). The two are measured one after the other (the loader's workers would compete with the
step for the same 2 cores); the target is loader >= 5x consumption.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import hydra
from omegaconf import OmegaConf

from raphael.benchmarks.common import CONF
from raphael.benchmarks.timing import Result, interleaved, median
from raphael.benchmarks.training import default_module, synthetic_batch, train_step_fn


def datamodule():
    """conf/data/shapes.yaml's datamodule on the repository's data/ folder (training shards only, seed 0)."""
    cfg = OmegaConf.load(CONF / "data" / "shapes.yaml")
    raw = OmegaConf.to_container(cfg)["urls"]  # unresolved: "${paths.data_dir}/shapes/train-{...}.tar"
    cfg.urls = raw.replace("${paths.data_dir}", str(CONF.parent / "data"))
    cfg.val_urls = None
    cfg.seed = 0
    return hydra.utils.instantiate(cfg), cfg


def loader_rate(dm, batches: int) -> dict:
    dm.setup("fit")
    it = iter(dm.train_dataloader())
    t0 = time.perf_counter()
    first = next(it)
    startup = time.perf_counter() - t0
    t0 = time.perf_counter()
    n = sum(len(b["caption"]) for b in itertools.islice(it, batches))
    dt = time.perf_counter() - t0
    del it
    return {"samples_per_s": n / dt, "startup_s": startup, "samples": n, "batch_size": len(first["caption"])}


def run(device: str = "cpu", quick: bool = False) -> list[Result]:
    res = Result("data[shapes shards, default workers]", device)
    dm, cfg = datamodule()
    if not Path(str(cfg.urls).split("{")[0] + "000000.tar").is_file():
        res.notes.append(f"skipped: no shards at {cfg.urls} (write them with raphael.data.shards make-shapes)")
        return [res]
    load = loader_rate(dm, 4 if quick else 30)
    module = default_module().to(device)
    batch = synthetic_batch(4 if quick else int(cfg.batch_size), device)
    ts = interleaved({"train_step": train_step_fn(module, batch)}, repeats=2 if quick else 5, warmup=1,
                     device=device)
    step = median(ts["train_step"])
    consume = len(batch["caption"]) / step
    r = load["samples_per_s"] / consume
    res.times = ts
    res.figures.update({"num_workers": int(cfg.num_workers), "loader": load, "train_batch": len(batch["caption"]),
                        "train_step_s": step, "consumption_samples_per_s": consume, "loader_over_consumption": r})
    res.target("loader_over_consumption", r, ">= 5", r >= 5)
    return [res]
