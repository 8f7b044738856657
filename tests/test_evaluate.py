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
                       "num_wording=1", "batch_size=2", f"fid.cache_dir={tmp_path / 'fid'}", "device=cpu", *TINY_FID,
                       "sampler.guidance_rescale=0.7", "sampler.x0_clip=dynamic")
    metrics = evaluate(cfg, tmp_path / "out", log=lambda *_: None)
    on_disk = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert on_disk["settings"]["guidance"] == [1.0, 3.0]
    sampler = on_disk["settings"]["sampler_settings"]  # the overrides on top of the run's diffusion.sampler
    assert sampler["guidance_rescale"] == 0.7 and sampler["x0_clip"] == "dynamic"
    assert sampler["guidance_space"] == tiny_module.sampler_settings.guidance_space
    assert {"label", "ckpt", "run", "model", "settings", "results", "grids"} <= set(on_disk)
    assert len(on_disk["results"]) == 2
    for row in on_disk["results"]:
        assert {"guidance", "fid", "alignment", "alignment_regular", "alignment_holdout", "alignment_wording",
                "samples_per_s"} <= set(row)
        assert set(row["alignment"]) == {"overall", "color", "shape", "size", "position", "fill", "objects",
                                         "count_right", "all_right", "clean", "lenient"}
        assert {"mean", "ci_low", "ci_high", "ci_half", "n", "std"} <= set(row["alignment"]["overall"])
        assert row["alignment"]["overall"]["n"] == 2 and row["alignment_holdout"]["overall"]["n"] == 1
        assert row["alignment_wording"]["overall"]["n"] == 1  # its own set, not in "alignment"
        assert row["fid"] == row["fid"] and row["samples_per_s"] > 0  # not NaN
    assert all(Path(p).is_file() for p in on_disk["grids"].values())
    assert Path(metrics["plot"]).is_file() and Path(metrics["plot_guidance"]).is_file()
    assert list((tmp_path / "fid").glob("shapes_cnn_*.pt")), "feature CNN weights are cached"


class FakeInception(torch.nn.Module):
    """Stands in for a user's TorchScript Inception-V3 (same call and output shape)."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(3 * 8 * 8, 2048)

    def forward(self, x: torch.Tensor, return_features: bool = True) -> torch.Tensor:
        pooled = torch.nn.functional.adaptive_avg_pool2d(x.float() / 255, 8)
        return self.proj(pooled.flatten(1))


def test_evaluate_a_prompt_file_against_real_shards_without_the_oracle(tiny_module, tmp_path):
    """task=prompts: the file's prompts are sampled and FID is read against the shards' images; no alignment."""
    from raphael.evaluate import evaluate
    from raphael.tasks.shapes.shards import write_shapes_shards

    write_shapes_shards(tmp_path / "real", num=16, val=0, seed=3, image_size=16, shard_size=16, progress=False)
    (tmp_path / "prompts.txt").write_text("# my prompts\na red dog\n\na blue cat on a mat\na green tree\n")
    torch.jit.script(FakeInception()).save(str(tmp_path / "inception.pt"))
    ckpt = save_lightning_ckpt(tiny_module, tmp_path / "tiny.ckpt")
    cfg = compose_eval(f"ckpt={ckpt}", "task=prompts", f"task.path={tmp_path / 'prompts.txt'}",
                       f"task.real_urls={tmp_path / 'real'}/train-000000.tar", "fid.feature=inception",
                       f"fid.inception_weights={tmp_path / 'inception.pt'}", "fid.num_real=16", "guidance=[1.0]",
                       "steps=2", "num_prompts=8", "num_holdout=4", "batch_size=4", "device=cpu")
    metrics = evaluate(cfg, tmp_path / "out", log=lambda *_: None)
    row = metrics["results"][0]
    assert row["alignment"] is None and row["alignment_holdout"] is None
    assert row["fid"] == row["fid"] and row["fid"] > 0 and row["samples_per_s"] > 0
    assert metrics["settings"]["task"] == "prompts" and "plot" not in metrics
    assert Path(metrics["grids"]["1.0"]).is_file()


def test_python_m_raphael_evaluate_runs_a_prompt_file_without_fid_or_oracle(tiny_module, tmp_path):
    import subprocess
    import sys

    ckpt = save_lightning_ckpt(tiny_module, tmp_path / "tiny.ckpt")
    (tmp_path / "prompts.txt").write_text("a red dog\na blue cat\n")
    proc = subprocess.run([sys.executable, "-m", "raphael.evaluate", f"ckpt={ckpt}", "task=prompts",
                           f"task.path={tmp_path / 'prompts.txt'}", "fid.enabled=false", "num_prompts=2",
                           "num_holdout=0", "guidance=[1.0]", "steps=2", "device=cpu", f"hydra.run.dir={tmp_path / 'out'}"],
                          cwd=Path(CONF_DIR).parent, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "alignment no oracle" in proc.stdout + proc.stderr
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["results"][0]["alignment"] is None


def test_a_prompt_file_that_is_missing_or_empty_is_a_clear_error(tmp_path):
    from raphael.run.validation import ConfigError
    from raphael.tasks.prompts import PromptsTask

    with pytest.raises(ConfigError, match="task.path=.*is not a file"):
        PromptsTask(str(tmp_path / "none.txt"))
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    with pytest.raises(ConfigError, match="holds no prompt"):
        PromptsTask(str(tmp_path / "empty.txt"))


@pytest.mark.parametrize("override, field", [("guidance=[1.5,-2.0]", "guidance"), ("steps=0", "steps"),
                                             ("fid.feature=clip", "fid.feature"), ("num_wording=-1", "num_wording"),
                                             ("sampler.x0_clip=soft", "sampler.x0_clip"),
                                             ("sampler.guidance_interval=[900,100]", "sampler.guidance_interval")])
def test_bad_evaluation_input_is_a_clear_error(override, field):
    from raphael.evaluate import validate_eval_config
    from raphael.run.validation import ConfigError

    cfg = compose_eval("ckpt=x.ckpt", override)
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        validate_eval_config(cfg)


def test_negative_guidance_fails_before_loading(tmp_path):
    from raphael.evaluate import evaluate
    from raphael.run.validation import ConfigError

    cfg = compose_eval(f"ckpt={tmp_path / 'missing.ckpt'}", "guidance=[-1.0]")
    with pytest.raises(ConfigError, match=r"guidance.*>= 0"):
        evaluate(cfg, tmp_path)


def test_missing_inception_weights_is_a_clear_error(tmp_path):
    from raphael.evaluate import feature_network
    from raphael.run.validation import ConfigError
    from raphael.tasks.shapes import ShapesTask

    task = ShapesTask()
    with pytest.raises(ConfigError, match="fid.inception_weights"):
        feature_network(compose_eval("ckpt=x", "fid.feature=inception", f"fid.inception_weights={tmp_path / 'no.pt'}"), task)
    with pytest.raises(ConfigError, match="fid.inception_weights=PATH"):
        feature_network(compose_eval("ckpt=x", "fid.feature=inception"), task)
    with pytest.raises(ConfigError, match="fid.feature='nope' is not valid for task 'shapes'.*inception, shapes_cnn"):
        feature_network(compose_eval("ckpt=x", "fid.feature=nope", f"fid.cache_dir={tmp_path}"), task)


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
    # any folder name reads back as written: a backslash, a quote, an interpolation-like ${...}
    odd = tmp_path / "a\\b 'c' \"d\" ${e}"
    cmd = EvaluateAfterTraining().command(odd, odd / "a.json")
    cfg = compose_eval(cmd[3], cmd[-1])
    assert (cfg.ckpt, cfg.out_json) == (str(odd / "checkpoints/last.ckpt"), str(odd / "a.json"))
    assert job_name("raphael", 1, ["experiment=raphael", "seed=1", "model.edge.t_c=200", "logger=csv"],
                    ["model.edge.t_c"]) == "raphael_model.edge.t_c=200_seed1"
