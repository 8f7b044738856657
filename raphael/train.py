"""Train a denoiser: `python -m raphael.train experiment=space_moe` (Hydra; see conf/train.yaml)."""

from __future__ import annotations

from pathlib import Path

import hydra
import lightning as L
from omegaconf import DictConfig, OmegaConf

from raphael.config import ConfigError, user_errors, validate_config
from raphael.module import RaphaelModule


def resolve_ckpt_path(ckpt_path: str | None, log_dir: str, task_name: str, experiment: str) -> str | None:
    """`last` -> the newest last.ckpt of this experiment's runs; a path must exist."""
    if ckpt_path is None:
        return None
    if ckpt_path == "last":
        found = sorted(Path(log_dir, task_name, experiment).glob("*/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
        if not found:
            raise ConfigError(f"ckpt_path=last found no checkpoints/last.ckpt under {Path(log_dir, task_name, experiment)}; "
                              "train once first, or pass the checkpoint's path.")
        return str(found[-1])
    if not Path(ckpt_path).is_file():
        raise ConfigError(f"ckpt_path={ckpt_path!r} is not a file: pass an existing .ckpt, `last`, or null.")
    return ckpt_path


def build_module(cfg: DictConfig) -> RaphaelModule:
    return RaphaelModule(
        model=cfg.model,
        text_encoder=cfg.text_encoder,
        diffusion=cfg.diffusion,
        optim=cfg.optim,
        vae=cfg.vae,
        image_size=cfg.data.image_size,
    )


def train(cfg: DictConfig) -> dict[str, float]:
    validate_config(cfg)
    ckpt_path = resolve_ckpt_path(cfg.ckpt_path, cfg.paths.log_dir, cfg.task_name, cfg.experiment_name)
    L.seed_everything(cfg.seed, workers=True)
    datamodule = hydra.utils.instantiate(cfg.data)
    module = build_module(cfg)
    callbacks = [hydra.utils.instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c]
    loggers = [hydra.utils.instantiate(c) for c in (cfg.get("logger") or {}).values() if c]
    config = OmegaConf.to_container(cfg, resolve=True)
    for logger in loggers:
        logger.log_hyperparams(config)
    trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers)
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    return {k: float(v) for k, v in trainer.callback_metrics.items()}


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    with user_errors():
        metrics = train(cfg)
    # a sweeper (optuna) optimises what main returns
    return metrics.get(cfg.get("optimized_metric", "val/loss"))


if __name__ == "__main__":
    main()
