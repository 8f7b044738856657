"""The run directory: one run at a time in it, how a resume finds it, its W&B run id, and a writable/free-space
check at start.

A run writes everything (checkpoints, W&B's offline run, CSV logs) into one folder, and holds the folder
while it runs (`lock_run_dir`): a second launch into it is refused. Resuming (`ckpt_path=last` or a path to
`<run dir>/checkpoints/*.ckpt`) continues in the SAME folder and the SAME W&B run: the id lives in
`<run dir>/wandb_run_id` and is passed as `id=..., resume="allow"`. See docs/reliability.md.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from raphael.run.errors import ConfigError

WANDB_ID_FILE = "wandb_run_id"
RESUMABLE = ("last.ckpt", "interrupted.ckpt")  # the periodic one and the one Ctrl-C writes
MIN_FREE_BYTES = 200 * 2**20
LOCK_FILE = "run.lock"
RANK_VARIABLES = ("RANK", "SLURM_PROCID", "LOCAL_RANK", "NODE_RANK")  # torchrun, SLURM, Lightning's launcher

_held: dict[Path, int] = {}  # run dirs this process holds -> the open lock file (closing it drops the lock)


def is_rank_zero() -> bool:
    """Not one of the other ranks of a multi-process run (those write into rank 0's folder, under its lock)."""
    return all(os.environ.get(name, "0") == "0" for name in RANK_VARIABLES)


def lock_run_dir(run_dir: str | Path) -> bool:
    """Hold `run_dir` for this process, or raise ConfigError naming the process that holds it. An exclusive
    flock on `<run dir>/run.lock`, which records who holds it: the OS drops the lock when the process ends,
    however it ends (SIGKILL included), so no lock outlives its run and `ckpt_path=last` resumes a dead run.
    True if taken now; False if this process holds it already, or for the other ranks of a multi-process run."""
    run_dir = Path(run_dir).resolve()
    if run_dir in _held or not is_rank_zero():
        return False
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:  # an unwritable folder: check_writable names it (raphael.training runs it first)
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 4096).decode(errors="replace").strip().split("\n")[0] or "its id not written yet"
        os.close(fd)
        raise ConfigError(f"run directory {str(run_dir)!r} is in use by another run ({holder}; lock file "
                          f"{run_dir / LOCK_FILE}): two runs in one folder overwrite each other's checkpoints, "
                          "metrics.csv and W&B run. Wait for it to end (ckpt_path=last then continues it), stop "
                          "it, or write this run elsewhere with hydra.run.dir=...") from None
    except OSError as err:  # a file system without locks (some network mounts): run unguarded, as before
        os.close(fd)
        print(f"warning: cannot lock {run_dir / LOCK_FILE} ({err.strerror or err}); nothing stops a second run "
              "from writing into this folder at the same time", file=sys.stderr)
        return False
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()} on host {socket.gethostname()}, since {started}\n{' '.join(sys.argv)}\n".encode())
    _held[run_dir] = fd
    return True


def release_run_dir(run_dir: str | Path) -> None:
    fd = _held.pop(Path(run_dir).resolve(), None)
    if fd is not None:
        os.close(fd)  # drops the flock; run.lock stays (removing it would race with a process opening it)


@contextlib.contextmanager
def hold_run_dir(run_dir: str | Path) -> Iterator[None]:
    """`lock_run_dir` for a block (one job of a multirun, a run started in-process); a folder this process
    held already (raphael.train's entry point locks hydra.run.dir before Hydra writes into it) stays held."""
    taken = lock_run_dir(run_dir)
    try:
        yield
    finally:
        if taken:
            release_run_dir(run_dir)


def run_dir_arg(argv: list[str]) -> str | None:
    """The folder `hydra.run.dir=X` on a command line names, if a plain path (no ${...}) and not a multirun."""
    if "-m" in argv or "--multirun" in argv:
        return None
    values = [arg.partition("=")[2] for arg in argv if arg.startswith("hydra.run.dir=")]
    value = values[-1].strip() if values else ""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]  # Lightning's DDP launcher passes hydra.run.dir="X"
    return value if value and "${" not in value and "\\" not in value else None


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
