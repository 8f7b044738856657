"""A training run from a composed config: `train(cfg)` (what `python -m raphael.train` runs, and what tests,
benchmarks and sweeps call in-process), the module it builds and how a resume finds its checkpoint."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

import hydra
import lightning as L
from lightning.pytorch.callbacks import ProgressBar
from omegaconf import DictConfig, OmegaConf

from raphael.module import RaphaelModule
from raphael.run.checkpoints import newest_readable, read_problem, unreadable
from raphael.run.console import quiet_third_party
from raphael.run.errors import ConfigError
from raphael.run.rundir import check_writable, find_last_checkpoint, hold_run_dir, run_dir_of, wandb_run_id
from raphael.run.summary import training_summary
from raphael.run.validation import validate_config


def resolve_ckpt_path(cfg: DictConfig) -> str | None:
    """`ckpt_path=last` -> this run dir's newest last.ckpt/interrupted.ckpt, else the newest of this experiment's
    runs (raphael.run.rundir); a path must exist. Either must be a readable checkpoint (raphael.run.checkpoints): a
    damaged one is refused, naming the newest intact checkpoint of its run."""
    ckpt_path = cfg.ckpt_path
    if ckpt_path is None:
        return None
    if ckpt_path == "last":
        experiment_dir = Path(cfg.paths.log_dir, cfg.task_name, cfg.experiment_name)
        path = find_last_checkpoint(cfg.paths.output_dir or "", str(experiment_dir))
    else:
        path = Path(ckpt_path)
        if not path.is_file():
            raise ConfigError(f"ckpt_path={ckpt_path!r} is not a file: pass an existing .ckpt, `last`, or null.")
    problem = read_problem(path)
    if problem is not None:
        message = str(unreadable("ckpt_path", path, problem))
        if ckpt_path == "last":
            message += " (ckpt_path=last picked it: the newest resumable checkpoint.)"
        run_dir = run_dir_of(path)
        if run_dir is not None:
            intact = newest_readable(run_dir, besides=path)
            message += (f" The newest intact checkpoint of that run is {intact}: resume from it with "
                        f"ckpt_path={shlex.quote(str(intact))}" if intact is not None else
                        f" No other checkpoint in {run_dir / 'checkpoints'} can be read: start afresh with "
                        "ckpt_path=null.")
        raise ConfigError(message)
    return str(path)


def build_module(cfg: DictConfig) -> RaphaelModule:
    return RaphaelModule(
        model=OmegaConf.to_container(cfg.model, resolve=True),  # plain values in the checkpoint, not the dataclass
        text_encoder=cfg.text_encoder,
        diffusion=cfg.diffusion,
        optim=cfg.optim,
        vae=cfg.vae,
        image_size=cfg.data.image_size,
        seed=cfg.seed,
    )


def instantiate_logger(logger_cfg: DictConfig, run_dir: str):
    """W&B continues one run across resumes: the id is kept in the run dir (raphael.run.rundir)."""
    if str(logger_cfg.get("_target_", "")).endswith("WandbLogger"):
        logger = hydra.utils.instantiate(logger_cfg, id=wandb_run_id(run_dir), resume="allow")
        logger._wandb_init.pop("anonymous", None)  # Lightning passes anonymous=None; W&B warns it is deprecated
        return logger
    return hydra.utils.instantiate(logger_cfg)


def train(cfg: DictConfig) -> dict[str, float]:
    quiet_third_party()
    started = time.perf_counter()
    validate_config(cfg)
    ckpt_path = resolve_ckpt_path(cfg)
    if ckpt_path is not None and run_dir_of(ckpt_path) is not None:
        cfg.paths.output_dir = str(run_dir_of(ckpt_path))  # a resume continues in the run's own folder
        print(f"resuming from {ckpt_path}; writing into {cfg.paths.output_dir}", flush=True)
    check_writable(cfg.paths.output_dir)
    with hold_run_dir(cfg.paths.output_dir):  # one run per folder: a second launch into it is refused (rundir)
        return fit(cfg, ckpt_path, started)


def fit(cfg: DictConfig, ckpt_path: str | None, started: float) -> dict[str, float]:
    """The run itself, once the config, the checkpoint and the run folder are checked and the folder is held."""
    L.seed_everything(cfg.seed, workers=True)
    datamodule = hydra.utils.instantiate(cfg.data)
    module = build_module(cfg)
    callbacks = [hydra.utils.instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c]
    bar = {}
    if not sys.stdout.isatty():  # a log file: the plain [train]/[val] lines say it; a bar would dump its last frame
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
        bar = {"enable_progress_bar": False}
    loggers = [instantiate_logger(c, cfg.paths.output_dir) for c in (cfg.get("logger") or {}).values() if c]
    config = OmegaConf.to_container(cfg, resolve=True)
    for logger in loggers:
        logger.log_hyperparams(config)
    trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers, **bar)
    # our own checkpoints hold the run config (DictConfig) in hparams: trusted, not weights-only
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=False)
    if not trainer.interrupted and trainer.limit_val_batches != 0 and module.validated_at != trainer.global_step:
        # a run that ended between validations (trainer.max_time, budget=cpu) still reports its final
        # state, with the EMA weights the last checkpoint holds; a sweep needs that metric
        trainer.validate(module, datamodule=datamodule, verbose=False)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    for logger in loggers:  # close the W&B run: its log is complete, and the next job of a multirun gets its own
        if type(logger).__name__ == "WandbLogger" and trainer.is_global_zero:
            logger.experiment.finish()
    if trainer.is_global_zero and not trainer.interrupted:
        print(training_summary(cfg.paths.output_dir, metrics, trainer.global_step, time.perf_counter() - started),
              flush=True)
    wanted = cfg.get("optimized_metric")
    if wanted and not trainer.interrupted and wanted not in trainer.callback_metrics:
        raise ConfigError(f"optimized_metric={wanted!r} was not logged by validation (logged: "
                          f"{sorted(trainer.callback_metrics)}); pick one of those.")
    return metrics
