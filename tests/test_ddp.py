"""Scale-out configs: trainer=ddp / trainer=fsdp compose and build their Lightning strategies, and (slow)
two CPU processes with DDP over gloo train a tiny config through the real entry point."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from lightning.pytorch.callbacks import Callback

sys.path.insert(0, str(Path(__file__).parent))
from conftest import compose_train  # noqa: E402


class RankKeyRecorder(Callback):
    """Appends {rank, step, keys} of every training batch to PATH-rank{r}.jsonl (one file per rank)."""

    def __init__(self, path: str):
        self.path = path

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        with open(f"{self.path}-rank{trainer.global_rank}.jsonl", "a") as f:
            f.write(json.dumps({"rank": trainer.global_rank, "world": trainer.world_size,
                                "step": trainer.global_step, "keys": list(batch["key"])}) + "\n")


def test_trainer_ddp_config_builds_a_ddp_strategy():
    import hydra
    from lightning.pytorch.strategies import DDPStrategy

    cfg = compose_train("trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2")
    assert cfg.trainer.strategy._target_.endswith("DDPStrategy")
    strategy = hydra.utils.instantiate(cfg.trainer.strategy)
    assert isinstance(strategy, DDPStrategy)
    assert strategy._ddp_kwargs["find_unused_parameters"] is True


def test_trainer_fsdp_config_builds_an_fsdp_strategy_that_wraps_blocks():
    import hydra
    from lightning.pytorch.strategies import FSDPStrategy

    from raphael.nn.unet import ResBlock, SpatialTransformer

    cfg = compose_train("trainer=fsdp")
    strategy = hydra.utils.instantiate(cfg.trainer.strategy)
    assert isinstance(strategy, FSDPStrategy)
    policy = strategy.kwargs["auto_wrap_policy"]
    assert set(policy._module_classes) == {SpatialTransformer, ResBlock}
    assert cfg.trainer.precision == "bf16-mixed"


@pytest.mark.slow
def test_two_cpu_ranks_with_ddp_read_disjoint_samples_and_write_one_checkpoint(tmp_path):
    from bad_shards import write_good_shards
    from train_harness import run, train_command

    url = write_good_shards(tmp_path / "shards", num_shards=4, per_shard=8)
    run_dir = tmp_path / "outputs" / "ddp"
    steps = 3
    cmd = train_command(
        tmp_path, url, run_dir, "trainer=ddp", "trainer.devices=2", f"trainer.max_steps={steps}",
        "callbacks.model_checkpoint.save_last=false", f"callbacks.model_checkpoint.every_n_train_steps={steps}",
        "callbacks.ema=null", "+callbacks.single_thread={_target_: train_harness.SingleThread}",
        f"+callbacks.keys={{_target_: test_ddp.RankKeyRecorder, path: {tmp_path}/keys}}",
    )
    done = run(cmd, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    seen = {}
    for rank in (0, 1):
        rows = [json.loads(line) for line in (tmp_path / f"keys-rank{rank}.jsonl").read_text().splitlines()]
        assert len(rows) == steps and all(r["world"] == 2 for r in rows), rows
        seen[rank] = [k for r in rows for k in r["keys"]]
    assert len(seen[0]) == len(seen[1]) == 2 * steps
    assert not set(seen[0]) & set(seen[1]), f"ranks read the same samples: {seen}"
    ckpts = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert ckpts == [f"step_{steps:06d}.ckpt"], ckpts
