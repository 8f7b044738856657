"""Checkpoints that survive crashes: atomic writes, and one more checkpoint on Ctrl-C.

`AtomicCheckpointIO` (a Lightning CheckpointIO plugin, wired in conf/trainer/default.yaml) writes
every checkpoint — ModelCheckpoint's `last.ckpt` and top-k, the Ctrl-C one — to a temporary file in
the same folder, fsyncs it and `os.replace`s it over the target: a crash while saving leaves the old
file whole. `InterruptCheckpoint` saves `interrupted.ckpt` when the run is stopped by Ctrl-C
(KeyboardInterrupt) or by SIGTERM (what SLURM sends before preemption; Lightning turns it into
SIGTERMException at the next step), so `ckpt_path=last` continues from there (raphael.run.rundir picks the newer of
last.ckpt and interrupted.ckpt).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities.exceptions import SIGTERMException


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class AtomicCheckpointIO(TorchCheckpointIO):
    """TorchCheckpointIO whose save is temp file + fsync + os.replace (local file systems)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options, got {storage_options!r}")
        if "://" in str(path):  # remote: fall back to Lightning's transactional fsspec write
            return super().save_checkpoint(checkpoint, path)
        atomic_torch_save(checkpoint, path)


class InterruptCheckpoint(Callback):
    """Saves `<dirpath>/interrupted.ckpt` on Ctrl-C or SIGTERM only. Other failures (a non-finite loss, an error)
    leave the checkpoints as they are: the last good `last.ckpt` is what a resume should use. (Not Lightning's
    OnExceptionCheckpoint: with one of those in the trainer, fit(ckpt_path=None) means "last" and warns.)"""

    def __init__(self, dirpath: str, filename: str = "interrupted") -> None:
        self.ckpt_path = str(Path(dirpath) / f"{filename}.ckpt")

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if isinstance(exception, KeyboardInterrupt | SIGTERMException):
            trainer.save_checkpoint(self.ckpt_path)
            cause = "SIGTERM" if isinstance(exception, SIGTERMException) else "Ctrl-C"
            print(f"{cause}: interrupted at step {trainer.global_step}: saved {self.ckpt_path}; "
                  "resume with ckpt_path=last", flush=True)
