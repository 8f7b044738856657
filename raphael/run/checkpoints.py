"""Loading trained modules for sampling, evaluation and probing (the weights in `state_dict` are EMA)."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import torch
from omegaconf import OmegaConf

from raphael.module import RaphaelModule
from raphael.nn.config import model_config
from raphael.run.errors import ConfigError


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


READ_ERRORS = (EOFError, KeyError, ValueError, OSError, pickle.UnpicklingError, RuntimeError)


def unreadable(field: str, ckpt: str | Path, err: Exception) -> ConfigError:
    """The one message for a checkpoint file that cannot be used: raphael.sample / evaluate / probe (`ckpt=`)
    and raphael.train (`ckpt_path=`) name the field, the file and what is wrong with it."""
    first = str(err).split(". ")[0].splitlines()[0] if str(err) else ""  # torch adds advice sentences
    if isinstance(err, RuntimeError) and any(s in str(err) for s in ("size mismatch", "Missing key", "Unexpected key")):
        return ConfigError(f"{field}={str(ckpt)!r} does not fit the model config it was saved with "
                           f"({first}); load it with the config of the run that wrote it.")
    if isinstance(err, RuntimeError):
        return ConfigError(f"{field}={str(ckpt)!r} is not a readable checkpoint (truncated or not a torch file: "
                           f"{first}).")
    return ConfigError(f"{field}={str(ckpt)!r} is not a readable checkpoint written by raphael.train "
                       f"({type(err).__name__}: {first}).")


def read_problem(ckpt: str | Path) -> Exception | None:
    """Why `ckpt` cannot be loaded as a Lightning checkpoint, or None. Reads the zip directory and the pickled
    dict with the tensors memory-mapped, not read: a truncated or foreign file fails here in well under a
    second, before a run builds anything (torch's own message says what is wrong)."""
    try:
        # weights_only=False: the hparams are OmegaConf containers (our own files: trusted, see docs/reliability.md)
        saved = torch.load(ckpt, map_location="cpu", mmap=True, weights_only=False)
    except READ_ERRORS as err:
        return err
    if not isinstance(saved, dict) or "state_dict" not in saved:
        return KeyError("it holds no state_dict: not a checkpoint written by Lightning")
    return None


def newest_readable(run_dir: str | Path, besides: str | Path) -> Path | None:
    """The newest checkpoint of a run (`<run dir>/checkpoints/*.ckpt`) other than `besides` that can be read."""
    found = sorted(Path(run_dir, "checkpoints").glob("*.ckpt"), key=lambda p: p.stat().st_mtime, reverse=True)
    return next((p for p in found if p.resolve() != Path(besides).resolve() and read_problem(p) is None), None)


def load_module(ckpt: str, map_location: str = "cpu", model=None):
    """A RaphaelModule from a Lightning checkpoint, in eval mode. Clear errors for missing or foreign files,
    and, when `model` (a requested model config) is given, for a checkpoint of a different model config."""

    if not Path(ckpt).is_file():
        raise ConfigError(f"ckpt={ckpt!r} is not a file: pass a .ckpt written by raphael.train "
                          "(outputs/train/<experiment>/<date>/checkpoints/last.ckpt).")
    try:
        # weights_only=False: the hparams are OmegaConf containers, which the weights-only unpickler rejects
        module = RaphaelModule.load_from_checkpoint(ckpt, map_location=map_location, weights_only=False)
    except READ_ERRORS as err:
        raise unreadable("ckpt", ckpt, err) from None
    diff = model_config_diff(module.hparams["model"], model) if model is not None else []
    if diff:
        raise ConfigError(f"ckpt={ckpt!r} was trained with a different model config than the one requested "
                          f"({'; '.join(diff)}): drop the model overrides, or pass a checkpoint of that model.")
    return module.eval().to(torch.device(map_location))
