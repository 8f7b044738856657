"""Loading trained modules for sampling, evaluation and probing (the weights in `state_dict` are EMA)."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import torch
from omegaconf import OmegaConf

from raphael.errors import ConfigError
from raphael.module import RaphaelModule
from raphael.nn.config import model_config


def model_config_diff(saved, requested) -> list[str]:
    """`field: saved -> requested` for every model field that `requested` (possibly partial, e.g. from
    `+model.space_moe.num_experts=4`) sets to a different value than the checkpoint's `saved` config."""
    before = model_config(saved)
    a = dataclasses.asdict(before)
    b = dataclasses.asdict(model_config(OmegaConf.merge(OmegaConf.structured(before), requested)))

    def flat(d, prefix=""):
        return {f"{prefix}{k}": v for key, val in d.items()
                for k, v in (flat(val, f"{key}.").items() if isinstance(val, dict) else [(key, val)])}

    fa, fb = flat(a), flat(b)
    return [f"model.{k}: {fa[k]!r} -> {fb[k]!r}" for k in fa if fa[k] != fb[k]]


def load_module(ckpt: str, map_location: str = "cpu", model=None):
    """A RaphaelModule from a Lightning checkpoint, in eval mode. Clear errors for missing or foreign files,
    and, when `model` (a requested model config) is given, for a checkpoint of a different model config."""

    if not Path(ckpt).is_file():
        raise ConfigError(f"ckpt={ckpt!r} is not a file: pass a .ckpt written by raphael.train "
                          "(outputs/train/<experiment>/<date>/checkpoints/last.ckpt).")
    try:
        # weights_only=False: the hparams are OmegaConf containers, which the weights-only unpickler rejects
        module = RaphaelModule.load_from_checkpoint(ckpt, map_location=map_location, weights_only=False)
    except (EOFError, KeyError, ValueError, OSError, pickle.UnpicklingError) as err:
        raise ConfigError(f"ckpt={ckpt!r} is not a readable checkpoint written by raphael.train "
                          f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}).") from None
    except RuntimeError as err:
        if "size mismatch" in str(err) or "Missing key" in str(err) or "Unexpected key" in str(err):
            raise ConfigError(f"ckpt={ckpt!r} does not fit the model config it was saved with "
                              f"({str(err).splitlines()[0]}); load it with the config of the run that wrote it.") from None
        raise ConfigError(f"ckpt={ckpt!r} is not a readable checkpoint (truncated or not a torch file: "
                          f"{str(err).splitlines()[0]}).") from None
    diff = model_config_diff(module.hparams["model"], model) if model is not None else []
    if diff:
        raise ConfigError(f"ckpt={ckpt!r} was trained with a different model config than the one requested "
                          f"({'; '.join(diff)}): drop the model overrides, or pass a checkpoint of that model.")
    return module.eval().to(torch.device(map_location))
