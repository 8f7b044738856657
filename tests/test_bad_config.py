"""Bad configs fail before any work: exit status != 0, one paragraph naming the field, no stack trace."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
ROOT = Path(__file__).resolve().parents[1]


def run_entry(module: str, *overrides: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """`python -m raphael.train` on tiny shards (tests/train_harness.py), with the overrides last."""
    from bad_shards import write_good_shards
    from train_harness import run, train_command

    assert module == "raphael.train"
    url = write_good_shards(tmp_path / "shards", num_shards=1, per_shard=2)
    return run(train_command(tmp_path, url, tmp_path / "run", *overrides), timeout=300)


def assert_clean_error(proc: subprocess.CompletedProcess, *words: str) -> None:
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    for word in words:
        assert word in proc.stderr, (word, proc.stderr)


CASES = {
    "alpha_zero": (["model.space_moe.alpha=0"], ["model.space_moe.alpha", "(0, 1]"]),
    "alpha_above_one": (["model.space_moe.alpha=1.5"], ["model.space_moe.alpha", "(0, 1]"]),
    "t_c_negative": (["model.edge.t_c=-1"], ["model.edge.t_c", "[0, T]"]),
    "t_c_above_T": (["model.edge.t_c=1001"], ["model.edge.t_c", "1000"]),
    "space_experts_zero": (["model.space_moe.num_experts=0"], ["model.space_moe.num_experts", ">= 1"]),
    "time_experts_negative": (["model.time_moe.num_experts=-2"], ["model.time_moe.num_experts", ">= 1"]),
    "text_encoder_missing": (["text_encoder.path=/nonexistent/encoder"], ["text_encoder.path", "/nonexistent"]),
    "guidance_negative": (["diffusion.guidance=[1.5,-3]"], ["diffusion.guidance", ">= 0"]),
    "data_urls_match_nothing": (["data.urls='/nonexistent/shapes-{00..03}.tar'"], ["data.urls", "/nonexistent"]),
    "ckpt_path_missing": (["ckpt_path=/nonexistent/last.ckpt"], ["ckpt_path", "not a file"]),
    "ckpt_path_last_nothing": (["ckpt_path=last"], ["ckpt_path", "found no checkpoints"]),
    "output_dir_unwritable": (["paths.output_dir=/proc/raphael_run"], ["output folder", "not writable"]),
    "prediction_type_unknown": (["diffusion.prediction_type=x0"], ["diffusion.prediction_type", "sample"]),
    "loss_weighting_unknown": (["diffusion.loss.weighting=snr"], ["diffusion.loss.weighting", "min_snr"]),
    "snr_gamma_text": (["diffusion.loss.snr_gamma=abc"], ["diffusion.loss.snr_gamma", "> 0"]),
    "text_cache_negative": (["text_encoder.cache_size=-1"], ["text_encoder.cache_size", ">= 0"]),
    "patch_size_zero": (["model.patch_size=0"], ["model.patch_size", ">= 1"]),
    "seed_text": (["seed=abc"], ["seed", "'abc'"]),
    "lr_negative": (["optim.optimizer.lr=-1"], ["optim.optimizer.lr", "> 0"]),
    "image_size_not_a_multiple": (["data.image_size=15"], ["data.image_size", "multiple"]),
    "ema_decay_above_one": (["optim.ema_decay=1.5"], ["optim.ema_decay", "[0, 1)"]),
}


# Checked in-process by validate_config (the same call raphael.train makes before any work): the field, the
# value and what is allowed. A few go end to end through the CLI above (exit 2, no checkpoint).
VALUES = {
    "seed=abc": ["seed", "'abc'", "non-negative integer"],
    "optim.optimizer.lr=-1": ["optim.optimizer.lr", "-1", "> 0"],
    "optim.warmup_steps=-10": ["optim.warmup_steps", "-10", ">= 0"],
    "optim.ema_decay=1.5": ["optim.ema_decay", "1.5", "[0, 1)"],
    "optim.decay=step": ["optim.decay", "linear"],
    "optim.decay_floor=2": ["optim.decay_floor", "[0, 1]"],
    "trainer.gradient_clip_val=-1": ["trainer.gradient_clip_val", "-1", ">= 0"],
    "trainer.max_steps=0": ["trainer.max_steps", "-1 for no step limit"],
    "trainer.max_steps=abc": ["trainer.max_steps", "'abc'"],
    "trainer.log_every_n_steps=0": ["trainer.log_every_n_steps", ">= 1"],
    "data.image_size=0": ["data.image_size", "positive integer"],
    "data.image_size=15": ["data.image_size", "15", "multiple of 4"],
    "data.batch_size=0": ["data.batch_size", ">= 1"],
    "data.num_workers=-1": ["data.num_workers", ">= 0"],
    "data.cache_decoded=yes": ["data.cache_decoded", "'yes'", "true or false"],
    "diffusion.guidance=[]": ["diffusion.guidance", "at least one"],
    "diffusion.guidance=[abc]": ["diffusion.guidance", "'abc'"],
    "diffusion.sample_steps=0": ["diffusion.sample_steps", ">= 1"],
    "diffusion.sample_eta=1.5": ["diffusion.sample_eta=1.5", "[0, 1]"],
    "diffusion.num_train_timesteps=500": ["model.num_train_timesteps", "diffusion.num_train_timesteps = 500"],
    "model.head_dim=64": ["model.head_dim", "narrowest transformer width"],
    "text_encoder.max_length=0": ["text_encoder.max_length", ">= 2"],
    "text_encoder.pooled=mean": ["text_encoder.pooled", "cls, eos, auto"],
    "diffusion.cond_drop=abc": ["diffusion.cond_drop", "[0, 1)"],
    "diffusion.sampler.x0_clip=soft": ["diffusion.sampler.x0_clip", "'soft'", "none, static, dynamic"],
    "diffusion.sampler.guidance_rescale=1.5": ["diffusion.sampler.guidance_rescale", "[0, 1]"],
    "diffusion.sampler.guidance_interval=[800,200]": ["diffusion.sampler.guidance_interval", "lo < hi"],
    "diffusion.sampler.guidance_space=x0": ["diffusion.sampler.guidance_space", "sample, epsilon, v_prediction"],
}


@pytest.mark.parametrize("override", sorted(VALUES))
def test_bad_value_is_named_before_work(override):
    from conftest import compose_train

    from raphael.run.validation import ConfigError, validate_config

    cfg = compose_train(override)
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    for word in VALUES[override]:
        assert word in str(err.value), (word, str(err.value))


def test_image_size_must_fit_the_default_unet():  # 2x2 patch stem x 2 halvings: multiples of 8
    from conftest import compose_train

    from raphael.run.validation import ConfigError, validate_config

    with pytest.raises(ConfigError, match=r"data.image_size=30 is not valid: a multiple of 8"):
        validate_config(compose_train("data.image_size=30", tiny=False))


def test_matching_timesteps_are_accepted():
    from conftest import compose_train

    from raphael.run.validation import validate_config

    validate_config(compose_train("diffusion.num_train_timesteps=500", "model.num_train_timesteps=500"))


def test_text_encoder_folder_without_tokenizer_names_what_it_lacks(tmp_path):
    from conftest import compose_train

    from raphael.run.validation import ConfigError, validate_config

    (tmp_path / "config.json").write_text("{}")
    cfg = compose_train(f"text_encoder.path={tmp_path}")
    with pytest.raises(ConfigError, match="lacks tokenizer files") as err:
        validate_config(cfg)
    assert str(tmp_path) in str(err.value) and "text_encoder.path" in str(err.value)


def test_unknown_experiment_lists_the_allowed_names(tmp_path):
    proc = run_entry("raphael.train", "experiment=space_moee", tmp_path=tmp_path)
    assert_clean_error(proc, "experiment", "space_moee", "space_moe", "baseline")
    assert proc.returncode == 2


# each case is one interpreter start + torch import (~5-10 s on a busy 2-core box): three stay in `make test`
FAST = {"alpha_zero", "data_urls_match_nothing", "output_dir_unwritable", "snr_gamma_text", "seed_text"}


@pytest.mark.parametrize("name", [n if n in FAST else pytest.param(n, marks=pytest.mark.slow) for n in sorted(CASES)])
def test_bad_training_config_fails_before_work(name, tmp_path):
    overrides, words = CASES[name]
    proc = run_entry("raphael.train", *overrides, tmp_path=tmp_path)
    assert_clean_error(proc, *words)
    assert proc.returncode == 2
    assert not (tmp_path / "run" / "checkpoints").exists()  # failed before any training


def test_experts_may_be_zero_when_the_moe_is_off():
    from conftest import compose_train

    from raphael.run.validation import validate_model

    cfg = compose_train("model.space_moe.enabled=false", "model.space_moe.num_experts=0")
    validate_model(cfg.model, 1000)  # no error


# ------------------------------------------------------------------ checkpoints for raphael.sample / evaluate
def _save_ckpt(module, path: Path, **hparam_changes) -> Path:
    import lightning
    import torch
    from omegaconf import OmegaConf

    hparams = dict(module.hparams)
    hparams["model"] = OmegaConf.merge(hparams["model"], hparam_changes) if hparam_changes else hparams["model"]
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": hparams,
                "pytorch-lightning_version": lightning.__version__}, path)
    return path


def test_a_checkpoint_of_another_model_config_is_a_clear_error(tiny_module, tmp_path):
    from raphael.run.checkpoints import load_module
    from raphael.run.validation import ConfigError

    ckpt = _save_ckpt(tiny_module, tmp_path / "model.ckpt")
    assert load_module(str(ckpt), model={"space_moe": {"num_experts": 6}}) is not None  # what it was trained with
    with pytest.raises(ConfigError, match=r"model.space_moe.num_experts: 6 -> 3"):
        load_module(str(ckpt), model={"space_moe": {"num_experts": 3}})
    # hparams that do not describe the weights (an edited or mixed-up file): the state dict does not fit
    wrong = _save_ckpt(tiny_module, tmp_path / "wrong.ckpt", channels=16)
    with pytest.raises(ConfigError, match="does not fit the model config"):
        load_module(str(wrong))
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(ckpt.read_bytes()[:2000])  # a copy that stopped half-way
    with pytest.raises(ConfigError, match="not a readable checkpoint"):
        load_module(str(cut))


@pytest.mark.slow
def test_raphael_sample_refuses_a_checkpoint_of_another_model_config(tiny_module, tmp_path):
    from train_harness import run

    ckpt = _save_ckpt(tiny_module, tmp_path / "model.ckpt")
    proc = run([sys.executable, "-m", "raphael.sample", f"ckpt={ckpt}", "+model.space_moe.num_experts=3",
                f"hydra.run.dir={tmp_path}/sample", "num=1", "steps=1"])
    assert_clean_error(proc, "model.space_moe.num_experts", "different model config")
    assert proc.returncode == 2


@pytest.mark.parametrize("argv, words", [
    (["--image-size", "8"], ["8x8 cannot hold 3 objects", "16x16"]),
    (["--num", "0"], ["--num 0", ">= 1"]),
])
def test_make_shapes_refuses_what_it_cannot_write(tmp_path, capsys, argv, words):
    from raphael.data.shards import main

    with pytest.raises(SystemExit) as exit_info:
        main(["make-shapes", "--out", str(tmp_path / "out"), "--quiet", *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert all(w in err for w in words), err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("override, words", [("num=0", ["num=0", ">= 1"]), ("steps=0", ["steps=0", ">= 1"]),
                                             ("eta=-1", ["eta=-1", "[0, 1]"])])
def test_raphael_sample_refuses_nothing_to_draw(tiny_module, tmp_path, override, words):
    from train_harness import run

    ckpt = _save_ckpt(tiny_module, tmp_path / "model.ckpt")
    proc = run([sys.executable, "-m", "raphael.sample", f"ckpt={ckpt}", f"hydra.run.dir={tmp_path}/sample", override])
    assert_clean_error(proc, *words)
    assert proc.returncode == 2


@pytest.mark.parametrize("override, words", [
    ("model.space_moe.alpha=abc", ["model.space_moe.alpha='abc'", "expected float"]),
    ("model.widht=3", ["model.widht is not a field of RaphaelUNetConfig", "channels"]),
    ("model=sd_unet model.space_moe.enabled=false", ["model.space_moe is not a field of SDUNetConfig"]),
])
def test_a_value_the_config_dataclasses_refuse_at_composition_exits_2(override, words):
    """Hydra types the model group by its dataclass while composing; raphael.train names the field first."""
    proc = subprocess.run([sys.executable, "-m", "raphael.train", *override.split()], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    for word in words:
        assert word in proc.stderr, (word, proc.stderr)


# ------------------------------------------------------------------ misspelt keys, overrides Hydra cannot read
def test_a_misspelt_top_level_key_exits_2_naming_the_closest_real_key():
    proc = subprocess.run([sys.executable, "-m", "raphael.train", "modle.channels=8"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert_clean_error(proc, "modle.channels=8", "did you mean model.channels?", "+modle.channels=8")
    assert proc.returncode == 2


@pytest.mark.parametrize("overrides, words", [
    (["trainer.max_step=10"], ["trainer.max_step=10", "did you mean trainer.max_steps?"]),
    (["sed=3"], ["sed=3", "did you mean seed?"]),
    (["experiment=space_moe", "optim.lrr=1"], ["optim.lrr=1", "did you mean optim.optimizer.lr?"]),
    (["datta.batch_size=3"], ["did you mean data.batch_size?"]),
    (["callbacks.model_checkpoint.every_n_steps=3"],  # nothing alike: the keys where it was meant to go
     ["no key callbacks.model_checkpoint.every_n_steps", "the keys of callbacks.model_checkpoint are", "save_last"]),
    (["out=/tmp/é.png"], ["could not read the override 'out=/tmp/é.png'", """'out="/tmp/é.png"'"""]),
])
def test_a_misspelt_key_or_an_unreadable_override_is_named_before_hydra_runs(overrides, words):
    """What raphael.train's entry point checks before Hydra (the end-to-end run of one case is above)."""
    from raphael.run.validation import ConfigError, check_overrides

    with pytest.raises(ConfigError) as err:
        check_overrides(overrides, ROOT / "conf", "train")
    for word in words:
        assert word in str(err.value), (word, str(err.value))


# ------------------------------------------------------------------ any prompt a person can type
PROMPTS = ["un cercle rouge à gauche", "ein großes Quadrat", "左边的红色圆圈", "a red circle 🎈", "3", "true", "null",
           "red, blue", "[a, b]", "it's", 'say "hi"', "both ' and \"", "ends with \\", "cost ${x} and $5", "x=y", ""]


@pytest.mark.parametrize("prompt", PROMPTS)
def test_raphael_sample_hands_hydra_the_prompt_as_typed(prompt):
    """`prompt=<what the shell passes>` composes to exactly that text (raphael.sample.quote_prompt)."""
    from hydra import compose, initialize_config_dir

    from raphael.sample import quote_prompt

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        assert compose("sample", overrides=quote_prompt(["ckpt=x", f"prompt={prompt}"])).prompt == prompt
        # typed without quotes, the shell splits it; the README's older form 'prompt="..."' still works
        assert compose("sample", overrides=quote_prompt(["prompt=un", "cercle", "rouge", "ckpt=x"])).prompt \
            == "un cercle rouge"
        assert compose("sample", overrides=quote_prompt(['prompt="a red circle"', "ckpt=x"])).prompt == "a red circle"


@pytest.mark.slow  # two interpreter starts, a sampling run
def test_raphael_sample_draws_a_non_ascii_prompt_typed_in_the_readme_form(tiny_module, tmp_path):
    from train_harness import run

    ckpt = _save_ckpt(tiny_module, tmp_path / "model.ckpt")
    # the shell turns prompt="un cercle rouge à gauche" into this one argument
    proc = run([sys.executable, "-m", "raphael.sample", f"ckpt={ckpt}", "prompt=un cercle rouge à gauche",
                f"hydra.run.dir={tmp_path}/sample", "num=1", "steps=1"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "1 samples of 'un cercle rouge à gauche'" in proc.stdout
    assert (tmp_path / "sample" / "samples.png").is_file()
    # another value Hydra cannot read unquoted: exit 2, saying how to quote it
    proc = run([sys.executable, "-m", "raphael.sample", f"ckpt={ckpt}", f"out={tmp_path}/é.png"])
    assert_clean_error(proc, "could not read the override", f"""'out="{tmp_path}/é.png"'""")
    assert proc.returncode == 2
