"""Loading trained modules for sampling, evaluation and probing (the weights in `state_dict` are EMA)."""

from __future__ import annotations

from pathlib import Path

import torch

from raphael.config import ConfigError


def load_module(ckpt: str, map_location: str = "cpu"):
    """A RaphaelModule from a Lightning checkpoint, in eval mode. Clear errors for missing or foreign files."""
    from raphael.module import RaphaelModule

    if not Path(ckpt).is_file():
        raise ConfigError(f"ckpt={ckpt!r} is not a file: pass a .ckpt written by raphael.train "
                          "(outputs/train/<experiment>/<date>/checkpoints/last.ckpt).")
    try:
        module = RaphaelModule.load_from_checkpoint(ckpt, map_location=map_location)
    except RuntimeError as err:
        if "size mismatch" in str(err) or "Missing key" in str(err) or "Unexpected key" in str(err):
            raise ConfigError(f"ckpt={ckpt!r} does not fit the model config it was saved with "
                              f"({str(err).splitlines()[0]}); load it with the config of the run that wrote it.") from None
        raise
    return module.eval().to(torch.device(map_location))
