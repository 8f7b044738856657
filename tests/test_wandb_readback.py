"""The W&B dashboard is real: a tiny run's offline log, read back with W&B's own reader
(`wandb leet inspect --json`, the transaction-log browser that ships with wandb), holds the resolved
config, the loss curves, the sample grid with its prompts, the routing pictures and the expert-load series."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import compose_train
from omegaconf import open_dict


def read_wandb_log(run_dir: Path) -> list[dict]:
    wandb_cli = Path(sys.executable).with_name("wandb")
    cli = str(wandb_cli) if wandb_cli.exists() else shutil.which("wandb")
    (log_file,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    out = subprocess.run([cli, "leet", "inspect", "--json", str(log_file)], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def wandb_records(tmp_path_factory) -> list[dict]:
    from raphael.tasks.shapes.shards import write_shapes_shards
    from raphael.training import train

    tmp = tmp_path_factory.mktemp("wandb_run")
    write_shapes_shards(tmp / "shapes", num=32, val=8, seed=0, image_size=16, shard_size=16, progress=False)
    cfg = compose_train("experiment=raphael", f"paths.root_dir={tmp}", f"paths.output_dir={tmp / 'run'}",
                        f"data.urls='{tmp}/shapes/train-{{000000..000001}}.tar'", f"data.val_urls={tmp}/shapes/val-000000.tar",
                        "data.generate=null", "trainer.max_steps=4", "trainer.val_check_interval=4",
                        "trainer.log_every_n_steps=1", "trainer.limit_val_batches=1")
    with open_dict(cfg):
        cfg.pop("hydra")
    train(cfg)
    return read_wandb_log(tmp / "run")


def _history_keys(records: list[dict]) -> dict[str, dict]:
    keys: dict[str, dict] = {}
    for record in records:
        if record.get("type") == "history":
            keys.update(record["history"]["item"])
    return keys


def test_the_resolved_config_is_in_the_run(wandb_records):
    config = {}
    for record in wandb_records:
        if record.get("type") == "config":
            config.update(record["config"]["update"])
    assert config["model"]["space_moe"]["enabled"] is True
    assert config["diffusion"]["prediction_type"] == "sample"
    assert "${" not in json.dumps(config)  # resolved, no interpolations left


def test_losses_grid_routing_and_expert_load_are_in_the_history(wandb_records):
    history = _history_keys(wandb_records)
    for key in ("train/loss", "train/denoise", "val/loss", "val/alignment", "lr-AdamW"):
        assert key in history, sorted(history)
    assert history["samples._type"] == "images/separated"
    assert all(isinstance(c, str) and c for c in history["samples.captions"])  # the prompts as captions
    assert history["routing/paths._type"] == "images/separated"  # the gate-computed word paths (Fig. 4 analogue)
    assert history["routing/time._type"] == "images/separated"  # time expert vs t (Fig. 9 analogue)
    assert history["routing/load_entropy._type"] == "images/separated"
    assert any(k.startswith("routing/time_load_entropy/") for k in history), sorted(history)
    assert any(k.startswith("routing/space_load/") for k in history), sorted(history)
    assert any(k.startswith("routing/space_load_entropy/") for k in history), sorted(history)
