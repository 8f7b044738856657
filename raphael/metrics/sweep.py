"""Evaluate every training run of a sweep right after it trains: a Hydra callback.

    python -m raphael.train -m experiment=baseline,raphael seed=0,1 hydra/callbacks=evaluate_after \
        hydra.callbacks.evaluate_after.results_dir=experiments/figures/fig6b_modules/results \
        'hydra.callbacks.evaluate_after.overrides=[steps=10,num_prompts=48]'

After each job that completed, it runs `python -m raphael.evaluate ckpt=<run>/checkpoints/last.ckpt`
in a fresh process (so memory is returned and a failing evaluation never kills the sweep), writes into
`<run>/eval/` and copies metrics.json to `<results_dir>/<job name>.json`, where the report finds it.
Train and evaluate interleave: a sweep cut short still has every finished run evaluated.
"""

from __future__ import annotations

import hashlib
import logging
import re
import subprocess
import sys
from pathlib import Path

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from raphael.run.validation import hydra_quoted

log = logging.getLogger(__name__)


def job_name(experiment: str | None, seed, overrides: list[str], name_keys: list[str] | None = None) -> str:
    """<experiment>[_<key=value> for the name_keys (all overrides when None)]_seed<k>, file-name safe;
    long names are cut and made unique by a hash (file names are limited to 255 bytes)."""
    chosen = [o for o in overrides if not o.startswith(("experiment=", "seed="))
              and (name_keys is None or o.lstrip("+~").split("=", 1)[0] in name_keys)]
    name = re.sub(r"[^A-Za-z0-9_.=-]+", "_", "_".join([experiment or "default", *chosen, f"seed{seed}"]))
    if len(name) > 150:
        name = f"{name[:130]}_{hashlib.sha1(name.encode()).hexdigest()[:10]}"
    return name


class EvaluateAfterTraining(Callback):
    def __init__(self, results_dir: str | None = None, overrides: list[str] | None = None,
                 checkpoint: str = "checkpoints/last.ckpt", name_keys: list[str] | None = None) -> None:
        self.results_dir = results_dir
        self.name_keys = list(name_keys) if name_keys is not None else None
        self.overrides = list(overrides or [])
        self.checkpoint = checkpoint

    def command(self, run_dir: Path, out_json: Path | None) -> list[str]:
        # run dirs of a multirun hold '=' and ',' (override_dirname): quote them for Hydra's override parser
        cmd = [sys.executable, "-m", "raphael.evaluate", f"ckpt={hydra_quoted(str(run_dir / self.checkpoint))}",
               f"hydra.run.dir={hydra_quoted(str(run_dir / 'eval'))}", *self.overrides]
        if out_json is not None:
            cmd.append(f"out_json={hydra_quoted(str(out_json))}")
        return cmd

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs) -> None:
        if job_return.status != JobStatus.COMPLETED:
            log.warning("evaluate_after: the training job failed; not evaluating it")
            return
        hydra_cfg = job_return.hydra_cfg.hydra if job_return.hydra_cfg is not None else config.hydra
        run_dir = Path(hydra_cfg.runtime.output_dir)
        task = job_return.cfg if job_return.cfg is not None else config
        name = job_name(OmegaConf.select(task, "experiment_name"), OmegaConf.select(task, "seed"),
                        list(hydra_cfg.overrides.task), self.name_keys)
        out_json = Path(self.results_dir) / f"{name}.json" if self.results_dir else None
        cmd = self.command(run_dir, out_json)
        log.info("evaluate_after: %s", " ".join(cmd))
        done = subprocess.run(cmd, check=False)
        if done.returncode != 0:
            log.error("evaluate_after: evaluation of %s failed with exit status %d", run_dir, done.returncode)
