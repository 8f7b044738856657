"""The closing summary of a run: what it reached, where everything went, and the next commands."""

from __future__ import annotations

import shlex
from pathlib import Path

WANTED = ("train/loss", "val/loss", "val/denoise", "val/alignment", "val/alignment_holdout",
          "val/alignment_wording")


def clock(seconds: float) -> str:
    """M:SS, or H:MM:SS from an hour on."""
    m, s = divmod(int(seconds), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


def _newest(folder: Path, pattern: str) -> Path | None:
    found = sorted(folder.glob(pattern), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def training_summary(run_dir: str | Path, metrics: dict[str, float], steps: int, wall_seconds: float) -> str:
    run = Path(run_dir)
    ckpt = run / "checkpoints" / "last.ckpt"
    grid = _newest(run / "samples", "step_*.png")
    csv = run / "csv" / "metrics.csv"
    wandb_run = _newest(run / "wandb", "offline-run-*")
    reached = "  ".join(f"{k} {metrics[k]:.4g}" for k in WANTED if k in metrics)
    lines = [f"done: {steps} steps in {clock(wall_seconds)} (wall)", f"  {reached}" if reached else None,
             f"  checkpoint   {ckpt}" if ckpt.is_file() else "  checkpoint   none written",
             f"  last grid    {grid}" if grid else None,
             f"  metrics CSV  {csv}" if csv.is_file() else None,
             f"  W&B run      {wandb_run} (offline; upload with: wandb sync {wandb_run})" if wandb_run else None]
    if ckpt.is_file():
        lines.append(next_commands(ckpt))
    return "\n".join(line for line in lines if line is not None)


def next_commands(ckpt: str | Path, skip: str = "", prompt: str = "a large red circle on the left") -> str:
    """The follow-up commands for a checkpoint, real path filled in (without the one just run)."""
    q = shlex.quote(str(ckpt))
    commands = {"sample": f"python -m raphael.sample ckpt={q} 'prompt=\"{prompt}\"'",
                "evaluate": f"python -m raphael.evaluate ckpt={q}",
                "probe": f"python -m raphael.probe ckpt={q}"}
    return "next:\n" + "\n".join(f"  {c}" for name, c in commands.items() if name != skip)
