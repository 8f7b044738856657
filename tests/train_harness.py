"""Runs `python -m raphael.train` in a subprocess at test size, on tiny shards written to tmp_path, with
test-only callbacks (importable from the subprocess: tests/ is put on its PYTHONPATH)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent

TINY_TRAIN = [  # conf/debug/default.yaml, then what a subprocess test needs on top of it
    "debug=default", "data.image_size=8", "model.edge.max_tokens=16", "text_encoder.max_length=16",
    "trainer.accelerator=cpu", "trainer.log_every_n_steps=1", "trainer.val_check_interval=null",
    "trainer.limit_val_batches=0", "+trainer.enable_progress_bar=false", "+trainer.enable_model_summary=false",
    "~callbacks.progress_bar", "~callbacks.samples", "~callbacks.routing",
    "callbacks.model_checkpoint.monitor=null", "+callbacks.model_checkpoint.every_n_train_steps=1",
    "optim.warmup_steps=2", "data.batch_size=2",
]


def write_data_config(tmp_path: Path, url: str) -> Path:
    """A `data=tiny` config in an extra config dir (the repo's data group stays untouched)."""
    conf = tmp_path / "extra_conf" / "data"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "tiny.yaml").write_text(
        "_target_: raphael.data.datamodule.ShardDataModule\n"
        f"urls: '{url}'\nimage_size: 8\nbatch_size: 2\nnum_workers: 0\nshuffle_buffer: 4\nseed: ${{seed}}\n"
    )
    return conf.parent


def train_command(tmp_path: Path, url: str, run_dir: Path, *overrides: str) -> list[str]:
    conf = write_data_config(tmp_path, url)
    return [sys.executable, "-m", "raphael.train", f"--config-dir={conf}", "data=tiny", f"hydra.run.dir={run_dir}",
            f"paths.root_dir={tmp_path}", *TINY_TRAIN, *overrides]


def env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "WANDB_MODE": "offline",
            "WANDB_SILENT": "true", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
            "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}


def run(cmd: list[str], timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, env=env(), capture_output=True, text=True, timeout=timeout)


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


# ------------------------------------------------------------------ callbacks used inside the subprocess
class SingleThread(Callback):
    def setup(self, trainer, pl_module, stage):
        torch.set_num_threads(1)


class LossRecorder(Callback):
    """Appends {step, loss} per training step to a JSON-lines file (survives kills and resumes)."""

    def __init__(self, path: str):
        self.path = path

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        with open(self.path, "a") as f:
            f.write(json.dumps({"step": trainer.global_step, "loss": float(outputs["loss"]),
                                "keys": list(batch["key"])}) + "\n")


class KillAtStep(Callback):
    """SIGKILLs its own process when `step` steps are done (after their checkpoint), as a crash would."""

    def __init__(self, step: int, sig: str = "SIGKILL"):
        self.step, self.sig = step, sig

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            os.kill(os.getpid(), getattr(signal, self.sig))


class NaNAtStep(Callback):
    """Makes the module's edge loss term NaN at step `step` (as a diverging run would)."""

    def __init__(self, step: int, term: str = "edge"):
        self.step, self.term = step, term

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step != self.step or "compute_losses" in pl_module.__dict__:
            return
        original = pl_module.compute_losses

        def poisoned(*args, **kwargs):
            losses, out = original(*args, **kwargs)
            bad = losses[self.term] * float("nan")
            losses[self.term], losses["loss"] = bad, losses["loss"] + bad
            return losses, out

        pl_module.compute_losses = poisoned


class SlowSteps(Callback):
    """Sleeps after each step, so that a test can send a signal while training runs."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        import time

        time.sleep(self.seconds)
