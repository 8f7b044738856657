"""Train a denoiser: `python -m raphael.train experiment=space_moe` (Hydra; see conf/train.yaml).
The run itself is `raphael.training.train`; this entry point maps failures to exit codes."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig

from raphael.callbacks.guards import NonFiniteLossError
from raphael.run.rundir import lock_run_dir, run_dir_arg
from raphael.run.validation import check_experiment_arg, check_overrides, user_errors
from raphael.training import train


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    with user_errors():
        try:
            metrics = train(cfg)
        except NonFiniteLossError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(3)
        except SIGTERMException:
            sys.exit(1)  # as Ctrl-C: interrupted.ckpt is saved (InterruptCheckpoint), resume with ckpt_path=last
    # a sweeper (optuna) optimises what main returns
    return metrics.get(cfg.get("optimized_metric", "val/loss"))


if __name__ == "__main__":
    with user_errors():  # an unknown experiment name or a mistyped value: one paragraph instead of Hydra's error
        conf = Path(__file__).resolve().parents[1] / "conf"
        check_experiment_arg(sys.argv[1:], conf / "experiment")
        check_overrides(sys.argv[1:], conf, "train")
        if run_dir_arg(sys.argv[1:]):  # held until this process ends: Hydra writes .hydra/ and train.log there next
            lock_run_dir(run_dir_arg(sys.argv[1:]))
    main()
