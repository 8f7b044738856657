"""The run directory: how a resume finds it, its W&B run id, and a writable/free-space check at start.

A run writes everything (checkpoints, W&B's offline run, CSV logs) into one folder. Resuming
(`ckpt_path=last` or a path to `<run dir>/checkpoints/*.ckpt`) continues in the SAME folder and the
SAME W&B run: the id lives in `<run dir>/wandb_run_id` and is passed as `id=..., resume="allow"`.
See docs/reliability.md.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from raphael.errors import ConfigError

WANDB_ID_FILE = "wandb_run_id"
RESUMABLE = ("last.ckpt", "interrupted.ckpt")  # the periodic one and the one Ctrl-C writes
MIN_FREE_BYTES = 200 * 2**20


def newest_resumable(run_dir: Path) -> Path | None:
    found = [p for name in RESUMABLE if (p := Path(run_dir, "checkpoints", name)).is_file()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def find_last_checkpoint(output_dir: str, experiment_dir: str) -> Path:
    """`ckpt_path=last`: this run dir's newest resumable checkpoint if it has one (pass
    `hydra.run.dir=<run dir>` to pick a run), else the newest one over the experiment's runs."""
    own = newest_resumable(Path(output_dir))
    if own is not None:
        return own
    runs = [c for d in Path(experiment_dir).glob("*") if (c := newest_resumable(d)) is not None]
    if not runs:
        raise ConfigError(f"ckpt_path='last' found no checkpoints/last.ckpt under {experiment_dir}: "
                          "train once first, or pass the checkpoint's path (ckpt_path=PATH) or null.")
    return max(runs, key=lambda p: p.stat().st_mtime)


def run_dir_of(ckpt: Path) -> Path | None:
    """The run directory a checkpoint was written into (`<run dir>/checkpoints/x.ckpt`), if any."""
    ckpt = Path(ckpt).resolve()
    return ckpt.parent.parent if ckpt.parent.name == "checkpoints" else None


def wandb_run_id(run_dir: str | Path) -> str:
    """The run's W&B id: read from the run dir if a previous launch wrote one, else a new one, saved."""
    path = Path(run_dir, WANDB_ID_FILE)
    if path.is_file() and path.read_text().strip():
        return path.read_text().strip()
    run_id = uuid.uuid4().hex[:8]
    if int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", 0))) != 0:
        return run_id  # only rank 0 logs to W&B and owns the file (ranks started together under SLURM)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{WANDB_ID_FILE}.{os.getpid()}")
    tmp.write_text(run_id + "\n")
    os.replace(tmp, path)
    return run_id


def check_writable(run_dir: str | Path, min_free_bytes: int = MIN_FREE_BYTES) -> None:
    """Fail at start, with a clear message, if the run dir cannot be written or the disk is nearly full."""
    run_dir = Path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / f".write_probe_{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as err:
        raise ConfigError(f"output folder {str(run_dir)!r} (paths.output_dir / hydra.run.dir) is not writable "
                          f"({err.strerror or err}): checkpoints and logs could not be saved. Pick a writable "
                          "folder with hydra.run.dir=... or paths.root_dir=...") from None
    free = shutil.disk_usage(run_dir).free
    if free < min_free_bytes:
        raise ConfigError(f"output folder {str(run_dir)!r} has only {free / 2**20:.0f} MiB free; a run needs at "
                          f"least {min_free_bytes / 2**20:.0f} MiB for checkpoints and logs. Free some space or "
                          "pick another folder with hydra.run.dir=...")
