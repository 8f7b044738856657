"""raphael.evaluate end to end on a tiny random-weights checkpoint, and its input validation."""

from __future__ import annotations

import json
from pathlib import Path

import lightning
import pytest
import torch

CONF_DIR = str(Path(__file__).resolve().parents[1] / "conf")

TINY_FID = ["fid.num_real=8", "fid.cnn.num_train=64", "fid.cnn.epochs=1", "fid.cnn.width=4",
            "fid.cnn.num_features=8"]


def compose_eval(*overrides: str):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("evaluate", overrides=list(overrides))


def save_lightning_ckpt(module, path: Path) -> Path:
    """The fields Lightning's load_from_checkpoint reads (what Trainer.save_checkpoint writes)."""
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams),
                "pytorch-lightning_version": lightning.__version__}, path)
    return path


def test_evaluate_tiny_checkpoint_writes_every_key(tiny_module, tmp_path):
    from raphael.evaluate import evaluate

    ckpt = save_lightning_ckpt(tiny_module, tmp_path / "tiny.ckpt")
    cfg = compose_eval(f"ckpt={ckpt}", "guidance=[1.0,3.0]", "steps=2", "num_prompts=1", "num_holdout=1",
                       "batch_size=2", f"fid.cache_dir={tmp_path / 'fid'}", "device=cpu", *TINY_FID)
    metrics = evaluate(cfg, tmp_path / "out", log=lambda *_: None)
    on_disk = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert on_disk["settings"]["guidance"] == [1.0, 3.0]
    assert {"label", "ckpt", "run", "model", "settings", "results", "grids"} <= set(on_disk)
    assert len(on_disk["results"]) == 2
    for row in on_disk["results"]:
        assert {"guidance", "fid", "alignment", "alignment_regular", "alignment_holdout", "samples_per_s"} <= set(row)
        assert set(row["alignment"]) == {"overall", "color", "shape", "size", "position", "fill", "objects",
                                         "count_right", "all_right", "clean", "lenient"}
        assert {"mean", "ci_low", "ci_high", "ci_half", "n", "std"} <= set(row["alignment"]["overall"])
        assert row["alignment"]["overall"]["n"] == 2 and row["alignment_holdout"]["overall"]["n"] == 1
        assert row["fid"] == row["fid"] and row["samples_per_s"] > 0  # not NaN
    assert all(Path(p).is_file() for p in on_disk["grids"].values())
    assert Path(metrics["plot"]).is_file()
    assert list((tmp_path / "fid").glob("shapes_cnn_*.pt")), "feature CNN weights are cached"


@pytest.mark.parametrize("override, field", [("guidance=[1.5,-2.0]", "guidance"), ("steps=0", "steps"),
                                             ("fid.feature=clip", "fid.feature")])
def test_bad_evaluation_input_is_a_clear_error(override, field):
    from raphael.evaluate import validate_eval_config
    from raphael.validation import ConfigError

    cfg = compose_eval("ckpt=x.ckpt", override)
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        validate_eval_config(cfg)


def test_negative_guidance_fails_before_loading(tmp_path):
    from raphael.evaluate import evaluate
    from raphael.validation import ConfigError

    cfg = compose_eval(f"ckpt={tmp_path / 'missing.ckpt'}", "guidance=[-1.0]")
    with pytest.raises(ConfigError, match=r"guidance.*>= 0"):
        evaluate(cfg, tmp_path)


def test_missing_inception_weights_is_a_clear_error(tmp_path):
    from raphael.metrics.fid_features import build_feature_extractor
    from raphael.validation import ConfigError

    with pytest.raises(ConfigError, match="fid.inception_weights"):
        build_feature_extractor("inception", tmp_path, str(tmp_path / "nope.pt"))
    with pytest.raises(ConfigError, match="fid.inception_weights=PATH"):
        build_feature_extractor("inception", tmp_path, None)


def test_optuna_search_composes():
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("train", overrides=["+hparams_search=optuna"], return_hydra_config=True)
    assert cfg.optimized_metric == "val/alignment"
    assert cfg.hydra.sweeper.direction == "maximize"
    assert "OptunaSweeper" in cfg.hydra.sweeper._target_
    assert "model.space_moe.alpha" in cfg.hydra.sweeper.params


def test_evaluate_after_quotes_multirun_paths(tmp_path):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from raphael.metrics.sweep import EvaluateAfterTraining, job_name

    run_dir = tmp_path / "0_data.batch_size=16,trainer.max_steps=40"
    cmd = EvaluateAfterTraining(overrides=["steps=2"]).command(run_dir, tmp_path / "r" / "a.json")
    parsed = OverridesParser.create().parse_overrides([cmd[3], cmd[4], cmd[-1]])
    assert parsed[0].value() == str(run_dir / "checkpoints/last.ckpt")
    assert parsed[1].value() == str(run_dir / "eval")
    assert job_name("raphael", 1, ["experiment=raphael", "seed=1", "model.edge.t_c=200", "logger=csv"],
                    ["model.edge.t_c"]) == "raphael_model.edge.t_c=200_seed1"
