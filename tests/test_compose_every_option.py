"""Every option of every config group composes and passes the validation layer (trainer=gpu: composed
only, no GPU here; text_encoder=clip: with a local folder the test writes)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CONF_DIR, compose_train

from raphael.run.validation import validate_config

GROUPS = ["budget", "callbacks", "data", "diffusion", "logger", "model", "optim", "paths", "text_encoder",
          "trainer", "experiment", "debug"]
OPTIONS = [(g, p.stem) for g in GROUPS for p in sorted((Path(CONF_DIR) / g).glob("*.yaml"))]
COMPOSE_ONLY = {("trainer", "gpu"), ("trainer", "ddp"), ("trainer", "fsdp"), ("data", "wds")}  # need GPUs / real shards


def test_every_group_has_options():
    assert {g for g, _ in OPTIONS} == set(GROUPS)


@pytest.mark.parametrize("group, option", OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_option_composes_and_validates(group, option, tmp_path):
    extra = []
    if (group, option) == ("text_encoder", "clip"):
        folder = tmp_path / "clip"
        folder.mkdir()
        (folder / "config.json").write_text("{}")
        (folder / "tokenizer.json").write_text("{}")
        extra = [f"text_encoder.path={folder}"]
    if (group, option) == ("experiment", "ediffi"):
        extra = [f"model.expert_init_ckpt={tmp_path / 'base.ckpt'}"]  # its trained base (a path is all it checks)
    cfg = compose_train(f"{group}={option}", f"paths.root_dir={tmp_path}", *extra, tiny=group != "debug")
    assert cfg.get(group) is not None or group in ("experiment", "budget", "debug")
    if (group, option) in COMPOSE_ONLY:
        return
    validate_config(cfg)


def test_budget_cpu_keeps_the_raw_weights(tmp_path):
    """budget=cpu decays lr to 0, drops the EMA callback (experiments/recipe/cpu_recipe), uses betas (0.9, 0.99) and the
    logit-normal t draw (experiments/recipe/cpu_model); budget=small too (the main job); budget=paper keeps the EMA."""
    cfg = compose_train("budget=cpu", f"paths.root_dir={tmp_path}")
    assert cfg.callbacks.ema is None and cfg.optim.decay == "linear"
    assert list(cfg.optim.optimizer.betas) == [0.9, 0.99] and cfg.diffusion.loss.t_sampling == "logit_normal"
    small = compose_train("budget=small", f"paths.root_dir={tmp_path}")
    assert small.callbacks.ema is None and small.optim.decay == "linear"  # the main job: the same recipe
    assert compose_train("budget=paper", f"paths.root_dir={tmp_path}").callbacks.ema is not None
