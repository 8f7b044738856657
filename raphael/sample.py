"""Sample images from a checkpoint: `python -m raphael.sample ckpt=PATH prompt="a red circle on the left"`."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from raphael.analysis.images import save_grid, to_uint8
from raphael.checkpoints import load_module
from raphael.console import quiet_third_party
from raphael.summary import next_commands
from raphael.validation import check_int, user_errors, validate_guidance


@hydra.main(version_base="1.3", config_path="../conf", config_name="sample")
def main(cfg: DictConfig) -> None:
    quiet_third_party()
    with user_errors():
        validate_guidance("guidance", cfg.guidance)
        check_int("num", cfg.num, low=1, allowed="how many images: an integer >= 1")
        check_int("steps", cfg.steps, low=1, allowed="DDIM steps: an integer >= 1 (25 is the default)")
        check_int("seed", cfg.seed, low=0)
        module = load_module(cfg.ckpt, model=cfg.get("model"))  # +model.x=... : must match the ckpt
        images = module.generate([cfg.prompt] * cfg.num, guidance=cfg.guidance, steps=cfg.steps, seed=cfg.seed)
        path = save_grid(to_uint8(images), cfg.out, captions=[cfg.prompt] * cfg.num)
    print(f"wrote {path} ({cfg.num} samples of {cfg.prompt!r}, guidance {cfg.guidance}, {cfg.steps} DDIM steps)")
    print(next_commands(cfg.ckpt, skip="sample", prompt=cfg.prompt))


if __name__ == "__main__":
    main()
