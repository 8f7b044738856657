"""The optuna search runs end to end: two trials on the tiny settings, each returning val/alignment."""

from __future__ import annotations

import sys

import yaml
from conftest import TINY
from train_harness import run


def test_two_trial_optuna_search_completes_with_short_trial_folders(tmp_path):
    """No validation falls inside the 2 steps: raphael.train validates at the end, so each trial has
    its metric (before: optuna's "No trials are completed yet"); trial folders are trial_<n>."""
    from raphael.tasks.shapes.shards import write_shapes_shards

    shards = tmp_path / "shapes"
    write_shapes_shards(shards, num=16, val=8, seed=0, image_size=16, shard_size=16, progress=False)
    sweep = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "raphael.train", "-m", "+hparams_search=optuna", "experiment=raphael",
           "hydra.sweeper.n_trials=2", "hydra.sweeper.n_jobs=1", f"hydra.sweep.dir={sweep}",
           f"paths.root_dir={tmp_path}", f"data.urls={shards}/train-000000.tar",
           f"data.val_urls={shards}/val-000000.tar", "data.generate=null", "logger=csv",
           "trainer.max_steps=2", "trainer.val_check_interval=100", "trainer.limit_val_batches=1", "~callbacks.routing", *TINY]
    proc = run(cmd, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in sweep.glob("trial_*")) == ["trial_0", "trial_1"]
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert 0.0 <= float(best["best_value"]) <= 1.0
