"""Benchmark 7: the real training loop against the bare step (issue 11: at most 1.15x).

Loop: `raphael.training.train` on the main job's configuration (experiment=space_moe, budget=small: batch 32,
Lightning, every callback of conf/callbacks/default.yaml, the CSV logger, gradient clipping, EMA, the
datamodule reading shards in the main process) with validation off; a callback stamps the start of every
training step. Bare: `module.training_step` + backward + AdamW (train_step_fn) on batches drawn from the
same datamodule beforehand. Both on one thread, the text cache warm (a 512-caption shard set resampled
into the main job's 8,000-sample epochs), the loop and the bare rounds alternating; the figure is median
loop step / median bare step.
"""

from __future__ import annotations

import itertools
import json
import tempfile
import time
from pathlib import Path

import hydra
import lightning as L

from raphael.benchmarks.common import compose_train_config
from raphael.benchmarks.timing import Result, median
from raphael.benchmarks.training import train_step_fn
from raphael.tasks.shapes.shards import write_shapes_shards
from raphael.training import build_module, train


class StepTimer(L.Callback):
    """Writes the perf_counter at the start of every training step to `path` (JSON) when training ends."""

    def __init__(self, path: str) -> None:
        self.path, self.stamps = path, []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.stamps.append(time.perf_counter())

    def on_train_end(self, trainer, pl_module) -> None:
        Path(self.path).write_text(json.dumps(self.stamps))


def loop_config(folder: Path, steps: int, experiment: str = "space_moe"):
    return compose_train_config(
        f"experiment={experiment}", "logger=csv", f"paths.root_dir={folder}", f"paths.output_dir={folder / 'run'}",
        f"data.urls='{folder}/shapes/train-{{000000..000000}}.tar'", "data.val_urls=null", "data.generate=null",
        "data.epoch_samples=8000",  # the main job's epoch (250 steps of 32): one epoch boundary per 250 steps
        f"trainer.max_steps={steps}", "trainer.limit_val_batches=0", "trainer.val_check_interval=null",
        f"+callbacks.step_timer={{_target_: raphael.benchmarks.loop_overhead.StepTimer, path: '{folder}/steps.json'}}",
    )


def run(device: str = "cpu", quick: bool = False) -> list[Result]:
    res = Result("loop_overhead[main job: Lightning loop vs bare step]", device)
    warm, steps, rounds = (3, 6, 1) if quick else (30, 100, 2)
    loop_steps, bare_steps = [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_shapes_shards(folder / "shapes", num=512, val=8, seed=0, shard_size=512, progress=False)
        for _ in range(rounds):
            cfg = loop_config(folder, warm + steps)
            train(cfg)
            stamps = json.loads((folder / "steps.json").read_text())
            loop_steps += [b - a for a, b in zip(stamps[warm:], stamps[warm + 1:])]

            dm = hydra.utils.instantiate(cfg.data)
            dm.setup("fit")
            batches = list(itertools.islice(iter(dm.train_dataloader()), warm + steps))
            module = build_module(cfg)
            for b in batches[:16]:  # the text cache, as warm as the loop's after its warm-up steps
                module.encode_text(b["caption"])
            step_fns = [train_step_fn(module, b) for b in batches]
            for fn in step_fns[:warm]:
                fn()
            for fn in step_fns[warm:]:
                t0 = time.perf_counter()
                fn()
                bare_steps.append(time.perf_counter() - t0)
    res.times = {"loop_step": loop_steps, "bare_step": bare_steps}
    ratio = median(loop_steps) / median(bare_steps)
    res.figures.update({"loop_step_s": median(loop_steps), "bare_step_s": median(bare_steps), "loop_over_bare": ratio,
                        "batch": int(cfg.data.batch_size), "steps_timed": len(loop_steps)})
    res.target("loop_over_bare", ratio, "<= 1.15", ratio <= 1.15)
    return [res]
